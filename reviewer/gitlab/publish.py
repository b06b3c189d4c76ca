"""Comment bodies, sanitising, and posting a review's findings to GitLab.

Model output is untrusted. Before anything is posted: no line may start a GitLab quick action,
no @mention may ping anyone, no image or raw HTML may load (a markdown image is an exfiltration
channel), no link is clickable (URLs are shown as code). Suggestions go inside a fence longer
than any backtick run they contain.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from reviewer.diff.positions import Inline, InSummary, Placement, Position
from reviewer.errors import PositionRejected
from reviewer.gitlab.api import RESOLVED_MARKER, BotThread
from reviewer.review.findings import Finding, Severity, Side

log = logging.getLogger(__name__)

_ASPECT_LABEL = {"security": "Security", "style": "Style"}
_SEVERITY_ICON = {
    Severity.CRITICAL: "🔴",
    Severity.HIGH: "🟠",
    Severity.MEDIUM: "🟡",
    Severity.LOW: "🔵",
    Severity.INFO: "⚪",
}
_IMAGE = re.compile(r"!\[([^\]]*)\]\s*(\([^)]*\)|\[[^\]]*\])")
_LINK_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+.*$", re.M)
_MENTION = re.compile(r"(?<![\w`])@([A-Za-z0-9_][A-Za-z0-9_.\-/]*)")
_LINK = re.compile(r"\[([^\]]*)\]\(\s*([^)\s]*)[^)]*\)")
_BARE_URL = re.compile(r"(?<![`\w])((?:https?|ftp|javascript|data):[^\s`)\]]+)", re.I)
_MAX_SUGGESTION_OFFSET = 100


def sanitize(text: str) -> str:
    """Make untrusted text safe to post as GitLab markdown prose."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _IMAGE.sub(
        lambda m: f"[image removed: {m.group(1)[:60]}]" if m.group(1) else "[image removed]", text
    )
    text = _LINK_DEFINITION.sub("", text)
    # No clickable links: a bot's comment is a trusted voice, and a link in it a phishing lure.
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})" if m.group(2) else m.group(1), text)
    text = _BARE_URL.sub(lambda m: f"`{m.group(1)}`", text)
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    text = _MENTION.sub(lambda m: f"`@{m.group(1)}`", text)
    lines = []
    for line in text.split("\n"):
        stripped = line.lstrip()
        lines.append("\\" + stripped if stripped.startswith("/") else line)
    return "\n".join(lines).strip()


def _fence_for(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def comment_body(finding: Finding, position: Position | None) -> str:
    """The markdown of one inline thread, ending with the fingerprint marker."""
    label = _ASPECT_LABEL.get(finding.aspect, finding.aspect.title())
    icon = _SEVERITY_ICON[finding.severity]
    parts = [f"{icon} **{label} · {finding.severity.value}**: {sanitize(finding.title)}"]
    if finding.body:
        parts.append(sanitize(finding.body))
    suggestion = _suggestion_block(finding, position)
    if suggestion:
        parts.append(suggestion)
    anchor = f" code={finding.anchor}" if finding.anchor else ""
    parts.append(f"<!-- ai-review fp={finding.fingerprint}{anchor} -->")
    return "\n\n".join(parts)


def _suggestion_block(finding: Finding, position: Position | None) -> str | None:
    """A GitLab suggestion, only where it can apply: new-side lines of an inline comment.

    The comment sits on the range's last line, so the block reaches back to the first one:
    ``suggestion:-N+0``, where N is the range's length minus one (GitLab allows at most 100).
    A finding moved or shortened to fit the diff loses its suggestion: the replacement was
    written for other lines, and applying it would corrupt the file.
    """
    if finding.suggestion is None or position is None or finding.side is not Side.NEW:
        return None
    if position.new_line is None or position.start.new_line is None:
        return None
    if (position.start.new_line, position.new_line) != (finding.line, finding.end_line or finding.line):
        return None
    above = position.new_line - position.start.new_line
    if not 0 <= above <= _MAX_SUGGESTION_OFFSET:
        return None
    fence = _fence_for(finding.suggestion)
    code = finding.suggestion.rstrip("\n")
    return f"{fence}suggestion:-{above}+0\n{code}\n{fence}"


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


def thread_body(thread: LineThread) -> str:
    """Each finding of a line, one after another, each with its own marker. Only the first
    applicable suggestion is offered: two suggestions for one line would undo each other."""
    parts, suggested = [], False
    for finding in thread.findings:
        shown = replace(finding, suggestion=None) if suggested else finding
        suggested = suggested or _suggestion_block(shown, thread.position) is not None
        parts.append(comment_body(shown, thread.position))
    return "\n\n---\n\n".join(parts)


class ThreadPoster(Protocol):
    def create_thread(self, project: int | str, iid: int, body: str, position: Position | None) -> str: ...

    def reply(self, project: int | str, iid: int, discussion_id: str, body: str) -> str: ...


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
            poster.create_thread(project, iid, thread_body(thread), thread.position)
        except PositionRejected as exc:
            path, _, line = line_key(thread.position)
            log.warning("GitLab refused the position for %s:%s: %s", path, line, exc)
            outcome.in_summary += [(f, "GitLab refused the inline position") for f in thread.findings]
            continue
        outcome.inline.extend(thread.findings)
        outcome.threads += 1
    for discussion_id, thread in publication.replies:
        poster.reply(project, iid, discussion_id, thread_body(thread))
        outcome.inline.extend(thread.findings)
        outcome.replies += 1
    return outcome


RESOLVED_REPLY = (
    "The line this comment was about has changed, so this looks addressed: resolving.\n\n" + RESOLVED_MARKER
)


class ThreadResolver(Protocol):
    def resolve_thread(
        self, project: int | str, iid: int, discussion_id: str, reply: str | None = None
    ) -> None: ...


def resolve_addressed(
    resolver: ThreadResolver,
    project: int | str,
    iid: int,
    threads: Sequence[BotThread],
    present: Callable[[str, Side, str], bool],
) -> list[BotThread]:
    """Resolve the bot's open threads whose lines are all gone from the diff: the code they were
    about changed. ``present(path, side, anchor)`` says whether a line with that code hash is
    still in the merge request's diff. A thread someone resolved is left alone; one whose line is
    still there stays open, whether or not this review raised it again. The reply saying why is
    written once, even when resolving is retried."""
    resolved = []
    for thread in threads:
        if thread.resolved or not thread.anchors or thread.path is None:
            continue
        path = thread.path
        if any(present(path, thread.side, anchor) for anchor in thread.anchors):
            continue
        reply = None if thread.resolution_explained else RESOLVED_REPLY
        resolver.resolve_thread(project, iid, thread.discussion_id, reply)
        resolved.append(thread)
    return resolved
