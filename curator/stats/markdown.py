"""One Markdown table writer for the reports (corpus stats, contamination, packing)."""

from __future__ import annotations


def markdown_table(header: list[str], rows: list[list], right: set[int] | None = None) -> list[str]:
    """Lines of a pipe table; columns in `right` (default: all but the first) are right-aligned."""
    right = right if right is not None else set(range(1, len(header)))
    align = ["---:" if i in right else "---" for i in range(len(header))]
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"] + [
        "| " + " | ".join(str(c) for c in row) + " |" for row in rows
    ]
