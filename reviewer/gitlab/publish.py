"""Posting a review's findings to GitLab: one thread per line (each finding on it listed), the rest kept
for the summary, resolving the bot's threads whose line changed, and which findings stand open on
the MR for the verdict. Every body comes from ``reviewer.gitlab.markdown``; ``reviewer.gitlab.batch``
publishes what is decided here as one review."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from reviewer.diff.parsing import FileDiff
from reviewer.diff.positions import Inline, InSummary, Placement, Position
from reviewer.errors import PositionRejected
from reviewer.gitlab import markdown
from reviewer.gitlab.api import BotThread
from reviewer.gitlab.markdown import Markdown
from reviewer.review.detectors.secrets import scan as scan_secrets
from reviewer.review.findings import Finding, Severity, Side, code_hash
from reviewer.review.verdict import Standing

log = logging.getLogger(__name__)

_SEVERITIES = {s.value for s in Severity}


@dataclass(frozen=True, slots=True)
class LineThread:
    """The findings that land on one line, most severe first: one thread lists them all."""

    position: Position
    findings: tuple[Finding, ...]


@dataclass
class Publication:
    """What a review writes, decided before anything is written (``decide_publication``)."""

    new_threads: list[LineThread] = field(default_factory=list)
    replies: list[tuple[str, LineThread]] = field(default_factory=list)  # (discussion id, findings)
    in_summary: list[tuple[Finding, str]] = field(default_factory=list)
    already_posted: list[Finding] = field(default_factory=list)


def line_key(position: Position) -> tuple[str, Side, int]:
    """The line GitLab shows a thread on: its last line, on the new side unless it was removed."""
    if position.new_line is not None:
        return position.new_path, Side.NEW, position.new_line
    assert position.old_line is not None
    return position.old_path, Side.OLD, position.old_line


def decide_publication(
    placed: Sequence[tuple[Finding, Placement]], threads: Sequence[BotThread], head_sha: str
) -> Publication:
    """One thread per line. Findings that land on one line (the secret detector's and the
    model's, several aspects, several chunks) become one thread listing each; a finding whose
    fingerprint any bot thread carries is not posted again.

    A new finding on a line where the bot already has a thread of this version joins it as a
    reply (the reply carries its marker, so a re-review posts it once), as a careful reviewer
    adds to their own comment instead of opening a second one on the line. When a person
    resolved that thread, the finding is listed in the summary instead: the thread stays
    resolved and the line gets no second thread.
    """
    publication = Publication()
    posted = {fp for thread in threads for fp in thread.fingerprints}
    on_line: dict[tuple[str, Side, int], BotThread] = {}
    for t in threads:  # the bot's threads on lines of this version; an open one wins
        if t.head_sha != head_sha or t.path is None or t.line is None:
            continue
        key = (t.path, t.side, t.line)
        if key not in on_line or (on_line[key].resolved and not t.resolved):
            on_line[key] = t
    groups: dict[tuple[str, Side, int], list[Finding]] = {}
    positions: dict[tuple[str, Side, int], Position] = {}
    for finding, placement in placed:
        if finding.fingerprint in posted:
            publication.already_posted.append(finding)
        elif isinstance(placement, InSummary):
            publication.in_summary.append((finding, placement.reason))
        else:
            assert isinstance(placement, Inline)
            key = line_key(placement.position)
            groups.setdefault(key, []).append(finding)
            positions.setdefault(key, placement.position)  # the most severe finding's
    for key, findings in groups.items():
        thread = LineThread(positions[key], tuple(findings))
        existing = on_line.get(key)
        if existing is None:
            publication.new_threads.append(thread)
        elif existing.resolved:
            publication.in_summary += [(f, "its line has a thread someone resolved") for f in findings]
        else:
            publication.replies.append((existing.discussion_id, thread))
    return publication


class ThreadPoster(Protocol):
    def create_thread(
        self, project: int | str, iid: int, body: Markdown, position: Position | None
    ) -> str: ...

    def reply(self, project: int | str, iid: int, discussion_id: str, body: Markdown) -> str: ...


@dataclass
class PublishOutcome:
    inline: list[Finding] = field(default_factory=list)  # on their lines, in new threads or replies
    in_summary: list[tuple[Finding, str]] = field(default_factory=list)
    already_posted: list[Finding] = field(default_factory=list)
    threads: int = 0  # new threads opened
    replies: int = 0  # findings added to an existing thread of their line


def publish_inline(
    poster: ThreadPoster, project: int | str, iid: int, publication: Publication
) -> PublishOutcome:
    """Write what ``decide_publication`` decided; whatever cannot go inline is kept for the summary.

    Nothing is dropped: a finding is either posted, already present (same fingerprint), or
    returned in ``in_summary`` with the reason.
    """
    outcome = PublishOutcome(
        in_summary=list(publication.in_summary), already_posted=list(publication.already_posted)
    )
    for thread in publication.new_threads:
        try:
            poster.create_thread(
                project, iid, markdown.thread(thread.findings, thread.position), thread.position
            )
        except PositionRejected as exc:
            # the path is left out: a file name can hold a secret
            log.warning("GitLab refused the position of finding %s: %s", thread.findings[0].fingerprint, exc)
            outcome.in_summary += [(f, "GitLab refused the inline position") for f in thread.findings]
            continue
        outcome.inline.extend(thread.findings)
        outcome.threads += 1
    for discussion_id, thread in publication.replies:
        poster.reply(project, iid, discussion_id, markdown.thread(thread.findings, thread.position))
        outcome.inline.extend(thread.findings)
        outcome.replies += 1
    return outcome


class ThreadResolver(Protocol):
    def resolve_thread(
        self, project: int | str, iid: int, discussion_id: str, reply: Markdown | None = None
    ) -> None: ...


def addressed(threads: Sequence[BotThread], present: Callable[[str, Side, str], bool]) -> list[BotThread]:
    """The bot's open threads whose lines are all gone from the diff: the code they were about
    changed. ``present(path, side, anchor)`` says whether a line with that code hash is still in
    the merge request's diff. A thread someone resolved is left alone; one whose line is still
    there stays open, whether or not this review raised it again."""
    gone = []
    for thread in threads:
        if thread.resolved or not thread.anchors or thread.path is None:
            continue
        path = thread.path
        if not any(present(path, thread.side, anchor) for anchor in thread.anchors):
            gone.append(thread)
    return gone


def resolve_addressed(
    resolver: ThreadResolver,
    project: int | str,
    iid: int,
    threads: Sequence[BotThread],
    present: Callable[[str, Side, str], bool],
) -> list[BotThread]:
    """Resolve the threads ``addressed`` finds, one by one. The reply saying why is written once,
    even when resolving is retried."""
    resolved = addressed(threads, present)
    for thread in resolved:
        reply = None if thread.resolution_explained else markdown.resolved_reply()
        resolver.resolve_thread(project, iid, thread.discussion_id, reply)
    return resolved


def standing(
    threads: Sequence[BotThread],
    resolving: Sequence[BotThread],
    publication: Publication,
    listed: Sequence[tuple[Finding, str]],
) -> list[Standing]:
    """The findings that stand open on the MR once this review is published: those of the bot's
    open threads it does not resolve (weighed by their markers, or by this review's finding of
    the same fingerprint), the new ones, and those the summary lists."""
    closing = {t.discussion_id for t in resolving}
    known = {f.fingerprint: f for f in publication.already_posted}
    found: list[Standing] = []
    for thread in threads:
        if thread.resolved or thread.discussion_id in closing:
            continue
        graded = {fp: (aspect, severity) for fp, aspect, severity in thread.graded}
        for fp in thread.fingerprints:
            if fp in graded and graded[fp][1] in _SEVERITIES:
                aspect, severity = graded[fp]
                found.append(Standing(fp, aspect, Severity(severity), thread.note_id))
            elif fp in known:
                found.append(Standing(fp, known[fp].aspect, known[fp].severity, thread.note_id))
    new = [f for t in publication.new_threads for f in t.findings]
    new += [f for _, t in publication.replies for f in t.findings]
    new += [f for f, _ in listed]
    found += [Standing(f.fingerprint, f.aspect, f.severity) for f in new]
    return found


def still_present(
    files: Sequence[FileDiff], threads: Sequence[BotThread]
) -> Callable[[str, Side, str], bool]:
    """Whether a line with a given code hash is still in the diff, on a side of a file. A file
    whose text is withheld counts as unchanged: nothing is resolved on a guess."""
    masker = scan_secrets(files).masker  # threads hashed their lines masked
    wanted = {t.path for t in threads if not t.resolved}
    by_path = {f.path: f for f in files if f.path in wanted} | {
        f.old_path: f for f in files if f.old_path in wanted
    }
    hashes: dict[tuple[str, Side], set[str]] = {}
    unknown: set[str] = set()
    for path, file in by_path.items():
        if not file.hunks:
            unknown.add(path)
        for hunk in file.hunks:
            for line in hunk.lines:
                for side, number in ((Side.NEW, line.new_no), (Side.OLD, line.old_no)):
                    if number is not None:
                        hashes.setdefault((path, side), set()).add(code_hash(masker(line.text)))
    return lambda path, side, anchor: path in unknown or anchor in hashes.get((path, side), set())


class SummaryWriter(Protocol):
    def upsert_summary(self, project: int | str, iid: int, body: Markdown) -> int: ...


def report_failure(
    gitlab: SummaryWriter, project: int | str, iid: int, *, head_sha: str | None, what_failed: str
) -> int:
    """Say in the summary note (edited in place) that the review failed for good, what failed and
    how to ask again."""
    return gitlab.upsert_summary(project, iid, markdown.failed_review(head_sha, what_failed))
