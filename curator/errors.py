"""Errors meant for users: each says what went wrong and what to do; each class has its exit code."""


class CuratorError(Exception):
    """Base class for errors reported to the user without a traceback (exit code 1)."""

    exit_code = 1


class ConfigError(CuratorError):
    """A pipeline YAML, an option or a path given is invalid; raised before any work starts (exit code 2)."""

    exit_code = 2


class RunError(CuratorError):
    """A run cannot start or did not finish consistently (resume conflict, accounting mismatch; exit code 1)."""


class Interrupted(BaseException):  # noqa: N818 - a signal, like KeyboardInterrupt, not an error
    """The CLI got SIGINT or SIGTERM; raised past Typer/Click (which would swallow a KeyboardInterrupt)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
