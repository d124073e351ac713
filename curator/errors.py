"""Errors meant for users: each says what went wrong and what to do."""


class CuratorError(Exception):
    """Base class for errors reported to the user without a traceback."""


class ConfigError(CuratorError):
    """A pipeline YAML or an option is invalid; raised before any work starts."""


class RunError(CuratorError):
    """A run cannot start or did not finish consistently (resume conflict, accounting mismatch)."""


class Interrupted(BaseException):  # noqa: N818 - a signal, like KeyboardInterrupt, not an error
    """The CLI got SIGINT or SIGTERM; raised past Typer/Click (which would swallow a KeyboardInterrupt)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
