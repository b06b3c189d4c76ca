"""What people did with the bot's earlier threads, read from GitLab during a re-review: thumbs up
or down on a thread's first note, a thread a person resolved, a line that changed (the bot
resolved its thread), a suggestion that was applied (the file at the new head holds the suggested
lines where the thread was). The emoji webhook is the first way reactions arrive; reading them
here catches the ones whose hook was lost. A reaction taken back is seen through the hook only.

A read that fails costs that thread's feedback, never the review.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from reviewer.diff.parsing import MergeRequestDiff
from reviewer.errors import GitLabError, TransientError
from reviewer.gitlab.api import BotThread
from reviewer.gitlab.client import GitLabClient, MergeRequestInfo
from reviewer.gitlab.reactions import THUMBS_DOWN, THUMBS_UP, Reaction
from reviewer.review.engine import Analysis
from reviewer.review.feedback import FeedbackEvent, Signal, posted_findings
from reviewer.review.findings import Finding
from reviewer.review.memory import Ledger

log = logging.getLogger(__name__)

MAX_THREADS = 50  # reactions read per review
MAX_FILE_READS = 10  # files read per review to see whether a suggestion was applied
SUGGESTION_WINDOW = 50  # lines around the thread's line where the applied suggestion may sit now

Reactions = Callable[[int], list[Reaction]]  # note id -> its reactions
ReadFile = Callable[[str], str | None]  # path -> its text at the head


def record_feedback(
    ledger: Ledger,
    gitlab: GitLabClient,
    info: MergeRequestInfo,
    diff: MergeRequestDiff,
    analysis: Analysis,
    team: str | None,
    posted: Sequence[Finding],
    threads: Sequence[BotThread],
    addressed: Sequence[BotThread],
) -> None:
    """After a review: what it posted (with what the findings' feedback is counted by), and what
    people did with the bot's earlier ``threads`` (``addressed``: resolved by this review)."""
    head = diff.refs.head_sha
    ledger.posted(
        info.project_id,
        info.iid,
        posted_findings(
            posted,
            diff.files,
            team=team or "unknown",
            project=info.project_path,
            head_sha=head,
            prompt_versions=analysis.prompt_versions,
            models=analysis.models,
            mask=analysis.masker,
        ),
    )
    events = thread_feedback(
        threads,
        addressed,
        bot_id=gitlab.bot_user_id(),
        reactions=lambda note_id: gitlab.reactions.on_note(info.project_id, info.iid, note_id),
        read_file=lambda path: gitlab.read_file(info.project_id, path, head),
    )
    ledger.feedback(info.project_id, info.iid, events)


def thread_feedback(
    threads: Sequence[BotThread],
    addressed: Sequence[BotThread],
    *,
    bot_id: int,
    reactions: Reactions,
    read_file: ReadFile,
) -> list[FeedbackEvent]:
    """The feedback the bot's ``threads`` carry now; ``addressed`` are the ones this review
    resolved because their line changed."""
    events: list[FeedbackEvent] = []
    fixed = {t.discussion_id for t in addressed}
    reads = 0
    for thread in threads[:MAX_THREADS]:
        fingerprints = thread.fingerprints
        try:
            events += _reactions(fingerprints, reactions(thread.note_id), bot_id)
        except (GitLabError, TransientError) as exc:
            log.info("no reactions read for a thread: %s", exc)
        if thread.resolved and thread.resolved_by not in (None, bot_id):
            events += [FeedbackEvent(fp, Signal.RESOLVED, thread.resolved_by) for fp in fingerprints]
        if thread.discussion_id in fixed:
            events += [FeedbackEvent(fp, Signal.FIXED) for fp in fingerprints]
        gone = thread.resolved or thread.discussion_id in fixed
        if thread.suggestion is not None and gone and thread.path and reads < MAX_FILE_READS:
            reads += 1
            try:
                text = read_file(thread.path)
            except (GitLabError, TransientError) as exc:
                log.info("could not read a file to see whether a suggestion was applied: %s", exc)
                continue
            fingerprint, code = thread.suggestion
            if text is not None and applied(code, text, thread.line):
                events.append(FeedbackEvent(fingerprint, Signal.APPLIED))
    return events


def _reactions(fingerprints: Sequence[str], given: list[Reaction], bot_id: int) -> list[FeedbackEvent]:
    signals = {THUMBS_UP: Signal.THUMBS_UP, THUMBS_DOWN: Signal.THUMBS_DOWN}
    return [
        FeedbackEvent(fp, signals[r.name], r.user_id)
        for r in given
        if r.name in signals and r.user_id != bot_id
        for fp in fingerprints
    ]


def applied(suggestion: str, text: str, line: int | None) -> bool:
    """Whether the file ``text`` holds the suggested lines, one after another, near ``line``
    (whitespace at the ends of lines aside): the line now reads as suggested."""
    wanted = [ln.rstrip() for ln in suggestion.split("\n")]
    lines = [ln.rstrip() for ln in text.splitlines()]
    if not any(wanted):
        return False  # a suggestion to delete the lines: nothing to look for
    first = 0 if line is None else max(0, line - 1 - SUGGESTION_WINDOW)
    last = len(lines) if line is None else min(len(lines), line + SUGGESTION_WINDOW)
    return any(lines[i : i + len(wanted)] == wanted for i in range(first, max(first, last - len(wanted) + 1)))
