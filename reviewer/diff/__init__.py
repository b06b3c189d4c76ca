"""Diffs: GitLab's per-file diffs and unified diffs parsed into FileDiff/Hunk/DiffLine, the lines a
comment can sit on (GitLab positions), and the numbered rendering the model reads.

Rule: data and computation only, no I/O; of the project it uses only ``reviewer.errors`` and the
``Side`` of ``reviewer.review.findings``.
"""

from typing import TYPE_CHECKING

from reviewer._exports import lazy_exports

if TYPE_CHECKING:
    from reviewer.diff.parsing import (
        DiffLine,
        DiffParseError,
        DiffRefs,
        FileDiff,
        FileStatus,
        Hunk,
        LineKind,
        MergeRequestDiff,
        parse_gitlab_diffs,
        parse_unified,
    )
    from reviewer.diff.positions import Inline, InSummary, LineIndex, LinePoint, Placement, Position
    from reviewer.diff.render import render_file, render_header, render_hunk, render_line

__all__ = [
    "DiffLine",
    "DiffParseError",
    "DiffRefs",
    "FileDiff",
    "FileStatus",
    "Hunk",
    "InSummary",
    "Inline",
    "LineIndex",
    "LineKind",
    "LinePoint",
    "MergeRequestDiff",
    "Placement",
    "Position",
    "parse_gitlab_diffs",
    "parse_unified",
    "render_file",
    "render_header",
    "render_hunk",
    "render_line",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "parsing": (
            "DiffLine",
            "DiffParseError",
            "DiffRefs",
            "FileDiff",
            "FileStatus",
            "Hunk",
            "LineKind",
            "MergeRequestDiff",
            "parse_gitlab_diffs",
            "parse_unified",
        ),
        "positions": ("InSummary", "Inline", "LineIndex", "LinePoint", "Placement", "Position"),
        "render": ("render_file", "render_header", "render_hunk", "render_line"),
    },
)
