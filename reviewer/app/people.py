"""What handling one person's note needs, and what every answer to a person does: the context
(services, state, settings), the note as GitLab has it, who may ask for what (with one polite
refusal), an answer in the note's thread written once, and dismissing a finding.

Used by ``reviewer.app.commands`` (``/ai-review ...``) and ``reviewer.app.conversations``
(replies in the bot's threads, reactions).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from reviewer.app.config import Settings
from reviewer.app.state import ReviewLedger
from reviewer.catalog import ServiceCatalog
from reviewer.diff.parsing import DiffRefs
from reviewer.gitlab.client import GitLabClient, MergeRequestInfo
from reviewer.gitlab.markdown import Markdown
from reviewer.gitlab.markdown.replies import reply
from reviewer.gitlab.markers import answers, fingerprints_in
from reviewer.gitlab.members import LEVEL_NAMES
from reviewer.gitlab.threads import Thread, ThreadNote
from reviewer.policy import team_policy
from reviewer.review.engine import Engine
from reviewer.review.feedback import FeedbackEvent, Signal
from reviewer.review.prompts import TeamPolicy

log = logging.getLogger(__name__)

REFUSAL_SECONDS = 3600  # at most one refusal per person per MR in this time


@dataclass(frozen=True, slots=True)
class ConversationConfig:
    dismiss_words: tuple[str, ...] = ("false positive", "won't fix", "wont fix", "not an issue", "not a bug")
    command_limit: int = 10  # per MR per hour
    answer_limit_thread: int = 3  # per thread per day
    answer_limit_mr: int = 10  # per MR per day
    answer_max_tokens: int = 400

    @classmethod
    def from_settings(cls, settings: Settings) -> ConversationConfig:
        return cls(
            dismiss_words=settings.dismiss_words,
            command_limit=settings.command_limit,
            answer_limit_thread=settings.answer_limit_thread,
            answer_limit_mr=settings.answer_limit_mr,
            answer_max_tokens=settings.answer_max_tokens,
        )


@dataclass
class Context:
    """The services a worker process handles notes with."""

    gitlab: GitLabClient
    engine: Engine
    ledger: ReviewLedger
    catalog: ServiceCatalog | None = None
    config: ConversationConfig = field(default_factory=ConversationConfig)


@dataclass(frozen=True, slots=True)
class NoteEvent:
    """A person's note, as GitLab has it now, in its thread."""

    project_id: int
    iid: int
    note: ThreadNote
    thread: Thread
    bot_id: int
    delivery: str = ""

    @property
    def author(self) -> int:
        assert self.note.author_id is not None
        return self.note.author_id

    @property
    def findings(self) -> tuple[str, ...]:
        """The fingerprints of the bot's first note when the thread is one of the bot's findings."""
        first = self.thread.first
        if first.author_id != self.bot_id or self.thread.first.id == self.note.id:
            return ()
        return fingerprints_in(first.body)

    @property
    def answered(self) -> bool:
        """The bot already answered this note (a retried task finds its answer here)."""
        return any(n.author_id == self.bot_id and answers(n.body, self.note.id) for n in self.thread.notes)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What handling a note did, for the task's result and log."""

    status: str  # "ignored", "refused", "limited", "answered", "dismissed", "done", "review", "recorded"
    detail: str = ""
    review: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "detail": self.detail,
            **({"review": self.review} if self.review else {}),
        }


def may(ctx: Context, event: NoteEvent, level: int, what: str) -> bool:
    """Whether the note's author has ``level`` access or more on the project (members API,
    inherited memberships included). Someone who does not gets one polite refusal per MR an
    hour, and nothing else: no model call, no review."""
    if ctx.gitlab.members.access_level(event.project_id, event.author) >= level:
        return True
    key = f"refused:{event.project_id}:{event.iid}:{event.author}"
    if ctx.ledger.conversations.first_in(key, REFUSAL_SECONDS, claim=str(event.note.id)):
        needed = LEVEL_NAMES.get(level, str(level))
        answer(ctx, event, f"Sorry, {what} is for members with {needed} access or higher on this project.")
    log.info("refused %s to user %s on %s!%s", what, event.author, event.project_id, event.iid)
    return False


def answer(ctx: Context, event: NoteEvent, text: str | Markdown) -> None:
    """Answer the note in its thread (a lone comment becomes a thread), once."""
    if event.answered:
        return
    body = text if isinstance(text, Markdown) else reply(event.note.id, text)
    ctx.gitlab.reply(event.project_id, event.iid, event.thread.id, body)


def dismiss(ctx: Context, event: NoteEvent, text: str) -> None:
    """The finding of the bot's thread is dismissed: never raised again on this MR, recorded as
    dismissed, the thread answered in one line and resolved. Every step is safe to repeat."""
    fingerprints = event.findings
    ctx.ledger.conversations.ignore(event.project_id, event.iid, fingerprints)
    ctx.ledger.feedback(
        event.project_id,
        event.iid,
        [FeedbackEvent(fp, Signal.DISMISSED, event.author) for fp in fingerprints],
    )
    answer(ctx, event, text)
    if event.thread.resolvable and not event.thread.resolved:
        ctx.gitlab.resolve_thread(event.project_id, event.iid, event.thread.id)


def mr_policy(ctx: Context, project_id: int, iid: int) -> tuple[TeamPolicy, MergeRequestInfo]:
    """The MR and the policy its reviews follow (files read at its target branch)."""
    info = ctx.gitlab.merge_request(project_id, iid)
    refs = DiffRefs(info.target_branch, info.target_branch, info.head_sha or info.target_branch)
    policy, _ = team_policy(ctx.engine, ctx.gitlab, info, refs, catalog=ctx.catalog, ledger=ctx.ledger)
    return policy, info
