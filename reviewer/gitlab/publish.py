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
from dataclasses import dataclass, field
from typing import Protocol

from reviewer.diff.positions import Inline, InSummary, Placement, Position
from reviewer.errors import PositionRejected
from reviewer.gitlab.client import BotThread
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


class ThreadPoster(Protocol):
    def create_thread(self, project: int | str, iid: int, body: str, position: Position | None) -> str: ...


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
            poster.create_thread(project, iid, comment_body(finding, placement.position), placement.position)
        except PositionRejected as exc:
            log.warning("GitLab refused the position for %s:%s: %s", finding.path, finding.line, exc)
            outcome.in_summary.append((finding, "GitLab refused the inline position"))
            continue
        existing_fingerprints.add(finding.fingerprint)
        outcome.inline.append(finding)
    return outcome


RESOLVED_REPLY = "The line this comment was about has changed, so this looks addressed: resolving."


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
        resolver.resolve_thread(project, iid, thread.discussion_id, RESOLVED_REPLY)
        resolved.append(thread)
    return resolved
