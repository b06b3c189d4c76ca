"""A person's note on a merge request, or their reaction to one of the bot's notes, handled.

- A note with a ``/ai-review`` line: the command (``reviewer.app.commands``).
- A reply in one of the bot's threads that says the finding is a false positive or won't be
  fixed (``REVIEWER_DISMISS_WORDS`` and a team's ``dismiss_words``): the finding is dismissed.
- A reply in one of the bot's threads that mentions the bot or asks a question (a ``?``): an
  answer in the thread from the model (``reviewer.review.discussion``), at most so many per thread
  and per MR a day; when the person shows the finding is wrong, agreement, the thread resolved and
  the finding dismissed.
- Thumbs up or down on a note of the bot's: recorded as feedback on its findings.

The bot's own notes and system notes are ignored. The note is read from GitLab (the event only
names it), so what is acted on is what GitLab holds.
"""

from __future__ import annotations

import logging
import re

from reviewer.app import commands, metrics
from reviewer.app.people import Context, NoteEvent, Outcome, answer, dismiss, may, mr_policy
from reviewer.errors import GatewayRejected, ModelOutputInvalid
from reviewer.gitlab.markers import fingerprints_in, without_markers
from reviewer.gitlab.members import DEVELOPER
from reviewer.gitlab.reactions import THUMBS_DOWN, THUMBS_UP
from reviewer.gitlab.threads import Thread
from reviewer.model.usage import Usage
from reviewer.review.discussion import ThreadContext, answer_in_thread, numbered_excerpt
from reviewer.review.feedback import FeedbackEvent, Signal
from reviewer.review.findings import Side
from reviewer.review.planning import Tier

log = logging.getLogger(__name__)

DAY = 24 * 3600
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})


def handle_note(
    ctx: Context,
    project_id: int,
    iid: int,
    note_id: int,
    discussion_id: str | None,
    run_review: commands.RunReview,
    delivery: str = "",
) -> Outcome:
    thread = _thread(ctx, project_id, iid, note_id, discussion_id)
    note = thread.note(note_id) if thread is not None else None
    if thread is None or note is None:
        return Outcome("ignored", "the note is gone")
    bot = ctx.gitlab.bot_user_id()
    if note.system or note.author_id is None or note.author_id == bot:
        return Outcome("ignored", "a system note or the bot's own")
    event = NoteEvent(project_id, iid, note, thread, bot, delivery)
    command = commands.parse(note.body)
    if command is not None:
        return commands.run(ctx, event, command, run_review)
    if not event.findings:
        return Outcome("ignored", "not a reply in one of the bot's threads")
    return _reply_in_finding_thread(ctx, event)


def handle_reaction(
    ctx: Context, project_id: int, iid: int, note_id: int, discussion_id: str | None, user_id: int
) -> Outcome:
    """The user's thumbs on a note of the bot's, as GitLab has them now (a reaction taken back
    takes its feedback back)."""
    thread = _thread(ctx, project_id, iid, note_id, discussion_id)
    note = thread.note(note_id) if thread is not None else None
    bot = ctx.gitlab.bot_user_id()
    if note is None or note.author_id != bot or user_id == bot:
        return Outcome("ignored", "not a reaction to a finding of the bot's")
    fingerprints = fingerprints_in(note.body)
    if not fingerprints:
        return Outcome("ignored", "the note holds no finding")
    given = {r.name for r in ctx.gitlab.reactions.on_note(project_id, iid, note_id) if r.user_id == user_id}
    events = [
        FeedbackEvent(fp, signal, user_id, present=name in given)
        for fp in fingerprints
        for name, signal in ((THUMBS_UP, Signal.THUMBS_UP), (THUMBS_DOWN, Signal.THUMBS_DOWN))
    ]
    ctx.ledger.feedback(project_id, iid, events)
    return Outcome("recorded", ", ".join(sorted(given & {THUMBS_UP, THUMBS_DOWN})) or "taken back")


def _thread(
    ctx: Context, project_id: int, iid: int, note_id: int, discussion_id: str | None
) -> Thread | None:
    if discussion_id:
        return ctx.gitlab.threads.get(project_id, iid, discussion_id)
    return ctx.gitlab.threads.containing(project_id, iid, note_id)


def _reply_in_finding_thread(ctx: Context, event: NoteEvent) -> Outcome:
    text = event.note.body
    policy, info = mr_policy(ctx, event.project_id, event.iid)
    if says_dismissed(text, (*ctx.config.dismiss_words, *policy.dismiss_words)):
        if not may(ctx, event, DEVELOPER, "dismissing the AI reviewer's findings"):
            return Outcome("refused", "dismissal")
        dismiss(ctx, event, "Understood: resolving, and I will not raise this again on this merge request.")
        return Outcome("dismissed", "reply")
    if not asks_the_bot(text, ctx.gitlab.bot_username()):
        return Outcome("ignored", "a reply that asks nothing")
    if event.answered:
        return Outcome("ignored", "answered already")
    if not may(ctx, event, DEVELOPER, "asking the AI reviewer"):
        return Outcome("refused", "question")
    if not _within_limits(ctx, event):
        return Outcome("limited", "answers per thread or merge request")
    llm = ctx.engine.llm
    if llm is None:
        answer(ctx, event, "I cannot answer questions here: no model gateway is configured.")
        return Outcome("answered", "no model")
    context = ThreadContext(
        finding=without_markers(event.thread.first.body),
        path=event.thread.path,
        line=event.thread.line,
        side=event.thread.side,
        code=_code(ctx, event, info.head_sha),
        conversation=[  # up to the note answered: later ones get their own answer
            ("bot" if n.author_id == event.bot_id else "person", without_markers(n.body))
            for n in event.thread.notes[: event.thread.notes.index(event.note) + 1]
            if not n.system
        ],
    )
    models = ctx.engine.models.for_review("conversation", Tier.FULL, policy)
    metadata: dict[str, str | int | float | bool] = {
        "project": info.project_path[-64:],
        "mr": info.iid,
        "trigger": "reply",
    }
    try:
        given = answer_in_thread(
            llm,
            context,
            models=models,
            policy=policy,
            max_tokens=ctx.config.answer_max_tokens,
            metadata=metadata,
        )
    except (ModelOutputInvalid, GatewayRejected) as exc:
        log.warning("no answer for a thread of %s!%s: %s", event.project_id, event.iid, exc)
        answer(ctx, event, "Sorry, I could not form an answer to that just now.")
        return Outcome("answered", "model failed")
    _count(policy.team or "unknown", given.model, given.usage)
    if given.concede:
        dismiss(ctx, event, given.reply)
        return Outcome("dismissed", "conceded")
    answer(ctx, event, given.reply)
    return Outcome("answered", "question")


def says_dismissed(text: str, words: tuple[str, ...]) -> bool:
    """Whether ``text`` holds one of ``words`` (any case, any apostrophe, as whole words)."""
    plain = " ".join(text.translate(_APOSTROPHES).lower().split())
    return any(
        re.search(rf"(?<!\w){re.escape(' '.join(w.translate(_APOSTROPHES).lower().split()))}(?!\w)", plain)
        for w in words
        if w.strip()
    )


def asks_the_bot(text: str, bot_username: str) -> bool:
    """A question (a ``?``) or a mention of the bot."""
    mentioned = bool(bot_username) and re.search(
        rf"(?<![\w@])@{re.escape(bot_username)}(?![\w.-])", text, re.I
    )
    return "?" in text or bool(mentioned)


def _within_limits(ctx: Context, event: NoteEvent) -> bool:
    """At most so many answers per thread and per MR a day; once over, one notice per thread."""
    state, config, claim = ctx.ledger.conversations, ctx.config, str(event.note.id)
    in_thread = state.allow(f"answers:{event.thread.id}", config.answer_limit_thread, DAY, claim)
    in_mr = in_thread and state.allow(
        f"answers:{event.project_id}:{event.iid}", config.answer_limit_mr, DAY, claim
    )
    if in_thread and in_mr:
        return True
    if state.first_in(f"answer-limit:{event.thread.id}", DAY, claim):
        answer(
            ctx, event, "I have answered as much as I can here today; a maintainer can resolve this thread."
        )
    return False


def _code(ctx: Context, event: NoteEvent, head: str | None) -> str:
    """The lines around the thread's line at the MR's head ("" for a removed line, or no file)."""
    thread = event.thread
    if not head or not thread.path or thread.line is None or thread.side is Side.OLD:
        return ""
    text = ctx.gitlab.read_file(event.project_id, thread.path, head)
    return numbered_excerpt(text, thread.line) if text else ""


def _count(team: str, model: str, usage: Usage) -> None:
    try:
        metrics.MODEL_CALLS.labels(team=team, model=model, outcome="answered").inc(usage.calls)
        metrics.MODEL_TOKENS.labels(team=team, model=model, kind="prompt").inc(usage.prompt_tokens)
        metrics.MODEL_TOKENS.labels(team=team, model=model, kind="completion").inc(usage.completion_tokens)
        metrics.MODEL_COST.labels(team=team, model=model).inc(usage.cost)
    except Exception:  # a metrics failure never loses the answer
        log.exception("could not count a model call")
