"""Everything written to or read from GitLab: the python-gitlab client, the one markdown renderer,
publishing a review (what to write, one batch of drafts, the verdict's overrides, the approval, the
summary), and follow-up increments.

Rule: only this package imports python-gitlab, and its errors leave it as the project's own
(``reviewer.errors``); only ``markdown`` makes the text written to GitLab (the client's write methods
take its ``Markdown`` values and nothing else); it takes findings and placements, it does not decide them.
"""

from typing import TYPE_CHECKING

from reviewer._exports import lazy_exports

if TYPE_CHECKING:
    from reviewer.gitlab.client import BotThread, GitLabClient, MergeRequestInfo
    from reviewer.gitlab.feedback import record_feedback
    from reviewer.gitlab.increment import Scope, narrow_scope, review_scope
    from reviewer.gitlab.markdown import Markdown
    from reviewer.gitlab.markers import answers, fingerprints_in, without_markers
    from reviewer.gitlab.members import DEVELOPER, LEVEL_NAMES, MAINTAINER
    from reviewer.gitlab.publish import (
        addressed,
        decide_publication,
        publish_inline,
        resolve_addressed,
        still_present,
    )
    from reviewer.gitlab.reactions import THUMBS_DOWN, THUMBS_UP
    from reviewer.gitlab.repository_files import file_reader, repository_instructions
    from reviewer.gitlab.submit import submit_review
    from reviewer.gitlab.summary import SummaryInput
    from reviewer.gitlab.threads import Thread, ThreadNote
    from reviewer.gitlab.versions import version_files

__all__ = [
    "DEVELOPER",
    "LEVEL_NAMES",
    "MAINTAINER",
    "THUMBS_DOWN",
    "THUMBS_UP",
    "BotThread",
    "GitLabClient",
    "Markdown",
    "MergeRequestInfo",
    "Scope",
    "SummaryInput",
    "Thread",
    "ThreadNote",
    "addressed",
    "answers",
    "decide_publication",
    "file_reader",
    "fingerprints_in",
    "narrow_scope",
    "publish_inline",
    "record_feedback",
    "repository_instructions",
    "resolve_addressed",
    "review_scope",
    "still_present",
    "submit_review",
    "version_files",
    "without_markers",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "client": ("BotThread", "GitLabClient", "MergeRequestInfo"),
        "feedback": ("record_feedback",),
        "increment": ("Scope", "narrow_scope", "review_scope"),
        "markdown": ("Markdown",),
        "markers": ("answers", "fingerprints_in", "without_markers"),
        "members": ("DEVELOPER", "LEVEL_NAMES", "MAINTAINER"),
        "publish": (
            "addressed",
            "decide_publication",
            "publish_inline",
            "resolve_addressed",
            "still_present",
        ),
        "reactions": ("THUMBS_DOWN", "THUMBS_UP"),
        "repository_files": ("file_reader", "repository_instructions"),
        "submit": ("submit_review",),
        "summary": ("SummaryInput",),
        "threads": ("Thread", "ThreadNote"),
        "versions": ("version_files",),
    },
)
