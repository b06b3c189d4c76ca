"""Everything read from or written to GitLab: the python-gitlab client, publishing findings and the
summary note, and follow-up increments.

Rule: only this package imports python-gitlab, and its errors leave it as the project's own
(``reviewer.errors``); it takes findings and placements, it does not decide them.
"""

from typing import TYPE_CHECKING

from reviewer._exports import lazy_exports

if TYPE_CHECKING:
    from reviewer.gitlab.client import BotThread, GitLabClient, MergeRequestInfo
    from reviewer.gitlab.increment import Scope, changed_since, review_scope
    from reviewer.gitlab.publish import decide_publication, publish_inline, resolve_addressed
    from reviewer.gitlab.summary import SummaryInput, render_summary

__all__ = [
    "BotThread",
    "GitLabClient",
    "MergeRequestInfo",
    "Scope",
    "SummaryInput",
    "changed_since",
    "decide_publication",
    "publish_inline",
    "render_summary",
    "resolve_addressed",
    "review_scope",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "client": ("BotThread", "GitLabClient", "MergeRequestInfo"),
        "increment": ("Scope", "changed_since", "review_scope"),
        "publish": ("decide_publication", "publish_inline", "resolve_addressed"),
        "summary": ("SummaryInput", "render_summary"),
    },
)
