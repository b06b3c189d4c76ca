"""Posting a review's findings to GitLab: one thread per new finding on its line, the rest kept
for the summary, and resolving the bot's threads whose line changed. Every body comes from
``reviewer.gitlab.markdown``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from reviewer.diff.positions import Inline, InSummary, Placement, Position
from reviewer.errors import PositionRejected
from reviewer.gitlab import markdown
from reviewer.gitlab.client import BotThread
from reviewer.gitlab.markdown import Markdown
from reviewer.review.findings import Finding, Side

log = logging.getLogger(__name__)


class ThreadPoster(Protocol):
    def create_thread(
        self, project: int | str, iid: int, body: Markdown, position: Position | None
    ) -> str: ...


@dataclass
class PublishOutcome:
    inline: list[Finding] = field(default_factory=list)
    in_summary: list[tuple[Finding, str]] = field(default_factory=list)
    already_posted: list[Finding] = field(default_factory=list)


def publish_inline(
    poster: ThreadPoster,
    project: int | str,
    iid: int,
    placed: Sequence[tuple[Finding, Placement]],
    existing_fingerprints: set[str],
) -> PublishOutcome:
    """Post each new finding on its line; whatever cannot go inline is kept for the summary.

    Nothing is dropped: a finding is either posted, already present (same fingerprint), or
    returned in ``in_summary`` with the reason.
    """
    outcome = PublishOutcome()
    for finding, placement in placed:
        if finding.fingerprint in existing_fingerprints:
            outcome.already_posted.append(finding)
            continue
        if isinstance(placement, InSummary):
            outcome.in_summary.append((finding, placement.reason))
            continue
        assert isinstance(placement, Inline)
        try:
            body = markdown.comment(finding, placement.position)
            poster.create_thread(project, iid, body, placement.position)
        except PositionRejected as exc:  # the path is left out: a file name can hold a secret
            log.warning("GitLab refused the position of finding %s: %s", finding.fingerprint, exc)
            outcome.in_summary.append((finding, "GitLab refused the inline position"))
            continue
        existing_fingerprints.add(finding.fingerprint)
        outcome.inline.append(finding)
    return outcome


class ThreadResolver(Protocol):
    def resolve_thread(
        self, project: int | str, iid: int, discussion_id: str, reply: Markdown | None = None
    ) -> None: ...


def resolve_addressed(
    resolver: ThreadResolver,
    project: int | str,
    iid: int,
    threads: Sequence[BotThread],
    present: Callable[[str, Side, str], bool],
) -> list[BotThread]:
    """Resolve the bot's open threads whose line is gone from the diff: the code they were about
    changed. ``present(path, side, anchor)`` says whether a line with that code hash is still in
    the merge request's diff. A thread someone resolved is left alone; one whose line is still
    there stays open, whether or not this review raised it again."""
    resolved = []
    for thread in threads:
        if thread.resolved or not thread.anchor or thread.path is None:
            continue
        if present(thread.path, thread.side, thread.anchor):
            continue
        resolver.resolve_thread(project, iid, thread.discussion_id, markdown.resolved_reply())
        resolved.append(thread)
    return resolved
