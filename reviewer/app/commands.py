"""``/ai-review`` commands: parsed from a person's note, checked (who may, how often), acknowledged
with an emoji, and dispatched to their handler.

Only a line that starts with ``/ai-review`` is a command (the first such line of a note counts).
A command is one entry of ``COMMANDS``, added with ``@command(...)``: its name, usage, what it
does (``help`` lists them), the access level it needs, and its handler. A handler answers with a
``Reply``: words for the note's thread, a review to run, or both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from reviewer.app.events import REVIEW_COMMAND
from reviewer.app.people import Context, NoteEvent, Outcome, answer, dismiss, may, mr_policy
from reviewer.gitlab.markdown import Markdown
from reviewer.gitlab.markdown.replies import help_reply
from reviewer.gitlab.members import DEVELOPER, MAINTAINER
from reviewer.pipeline import ReviewRequest
from reviewer.review.prompts import ASPECTS

log = logging.getLogger(__name__)

ACKNOWLEDGEMENT = "eyes"
COMMAND_WINDOW_SECONDS = 3600
LIMIT_NOTICE_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # "" for a plain ``/ai-review``
    argument: str = ""


def parse(text: str) -> Command | None:
    """The first ``/ai-review`` line of a note, as a command; None when no line starts with it."""
    match = REVIEW_COMMAND.search(text)
    if match is None:
        return None
    words = (match.group("args") or "").strip().split(maxsplit=1)
    return Command(words[0].lower() if words else "", words[1].strip() if len(words) > 1 else "")


@dataclass(frozen=True, slots=True)
class Reply:
    text: str | Markdown | None = None
    review: ReviewRequest | None = None


Handler = Callable[[Context, NoteEvent, Command], Reply]


@dataclass(frozen=True, slots=True)
class Spec:
    name: str
    usage: str
    does: str
    level: int
    handler: Handler


COMMANDS: dict[str, Spec] = {}


def command(name: str, usage: str, does: str, *, level: int = DEVELOPER) -> Callable[[Handler], Handler]:
    """Register a command (``override`` and the like plug in here)."""

    def register(handler: Handler) -> Handler:
        COMMANDS[name] = Spec(name, usage, does, level, handler)
        return handler

    return register


RunReview = Callable[[ReviewRequest], dict[str, object]]  # the task runs a review (under the MR's lock)


def run(ctx: Context, event: NoteEvent, cmd: Command, run_review: RunReview) -> Outcome:
    """Check, acknowledge and carry out one command; reply when it cannot be carried out."""
    spec = COMMANDS.get(cmd.name)
    if not may(ctx, event, spec.level if spec else DEVELOPER, "asking the AI reviewer"):
        return Outcome("refused", f"/ai-review {cmd.name}".strip())
    state = ctx.ledger.conversations
    bucket = f"commands:{event.project_id}:{event.iid}"
    if not state.allow(bucket, ctx.config.command_limit, COMMAND_WINDOW_SECONDS, claim=str(event.note.id)):
        notice = f"limit:{event.project_id}:{event.iid}"
        if state.first_in(notice, LIMIT_NOTICE_SECONDS, claim=str(event.note.id)):
            answer(ctx, event, "Too many commands on this merge request in the last hour: try again later.")
        return Outcome("limited", "commands per merge request")
    ctx.gitlab.reactions.add(event.project_id, event.iid, event.note.id, ACKNOWLEDGEMENT)
    if spec is None:
        answer(ctx, event, f"I do not know that command. {_usage_line()}")
        return Outcome("done", "unknown command")
    result = spec.handler(ctx, event, cmd)
    if result.text is not None:
        answer(ctx, event, result.text)
    if result.review is None:
        return Outcome("done", spec.name or "review")
    outcome = run_review(result.review)
    if outcome.get("status") == "skipped":
        answer(ctx, event, f"Nothing to review: {outcome.get('reason')}.")
    return Outcome("review", spec.name or "review", outcome)


def _usage_line() -> str:
    return "Write `/ai-review help` on a line of its own for the list."


# -- reviews ---------------------------------------------------------------------------------------


def _review(event: NoteEvent, *, full: bool = False, aspects: tuple[str, ...] = ()) -> Reply:
    """Inside a diff thread, the thread's file only."""
    paths = (event.thread.path,) if event.thread.path else ()
    request = ReviewRequest(
        event.project_id,
        event.iid,
        "command",
        delivery=f"note:{event.note.id}",
        full=full,
        aspects=aspects,
        paths=paths,
    )
    return Reply(review=request)


@command("", "/ai-review", "review what is new since the last review (all of it the first time)")
def _new(ctx: Context, event: NoteEvent, cmd: Command) -> Reply:
    return _review(event)


@command("full", "/ai-review full", "review the whole merge request again")
def _full(ctx: Context, event: NoteEvent, cmd: Command) -> Reply:
    return _review(event, full=True)


@command("security", "/ai-review security", "review the merge request for security only")
def _security(ctx: Context, event: NoteEvent, cmd: Command) -> Reply:
    return _review(event, aspects=("security",))


@command("style", "/ai-review style", "review the merge request for correctness and style only")
def _style(ctx: Context, event: NoteEvent, cmd: Command) -> Reply:
    return _review(event, aspects=("style",))


@command(
    "override",
    "/ai-review override <reason>",
    "break glass: a blocking verdict becomes a recorded override (Maintainers; the summary says who and why)",
)
def _override(ctx: Context, event: NoteEvent, cmd: Command) -> Reply:
    """The review reads the note again from GitLab (reviewer.gitlab.overrides): who may and the
    reason are decided there, and a refusal is named in the summary."""
    request = ReviewRequest(
        event.project_id,
        event.iid,
        "override",
        delivery=f"note:{event.note.id}",
        requested_by=event.author,
        note_id=event.note.id,
    )
    return Reply(review=request)


# -- settings of one merge request -----------------------------------------------------------------


@command("help", "/ai-review help", "this list, and the settings reviews of this merge request use")
def _help(ctx: Context, event: NoteEvent, cmd: Command) -> Reply:
    policy, _ = mr_policy(ctx, event.project_id, event.iid)
    t = policy.thresholds
    paused = ctx.ledger.paused(event.project_id, event.iid)
    settings = [
        ("team", policy.team or "none (default prompts)"),
        ("aspects", ", ".join(policy.aspects) or "none"),
        ("thresholds", f"severity {t.min_severity.value} or more, confidence {t.min_confidence}"),
        ("comments", f"at most {t.max_comments} per review"),
        ("model", policy.model or ctx.engine.models.default),
        ("files ignored", ", ".join(policy.ignore_paths) or "none beyond lock and generated files"),
        ("automatic reviews", "paused" if paused else "on (every push and when marked ready)"),
        ("dismissing words", ", ".join((*ctx.config.dismiss_words, *policy.dismiss_words))),
        ("commands", f"at most {ctx.config.command_limit} an hour on this merge request"),
    ]
    commands = [(spec.usage, spec.does) for spec in COMMANDS.values()]
    return Reply(help_reply(event.note.id, commands, settings, policy.rules))


@command("pause", "/ai-review pause", "stop automatic reviews of this merge request")
def _pause(ctx: Context, event: NoteEvent, cmd: Command) -> Reply:
    ctx.ledger.conversations.pause(event.project_id, event.iid)
    return Reply("Automatic reviews of this merge request are paused; `/ai-review resume` restarts them.")


@command("resume", "/ai-review resume", "restart automatic reviews of this merge request")
def _resume(ctx: Context, event: NoteEvent, cmd: Command) -> Reply:
    ctx.ledger.conversations.resume(event.project_id, event.iid)
    return Reply("Automatic reviews of this merge request are on again.")


@command("ignore", "/ai-review ignore", "in one of my threads: resolve it, never raise it again here")
def _ignore(ctx: Context, event: NoteEvent, cmd: Command) -> Reply:
    if not event.findings:
        return Reply("`/ai-review ignore` works in a reply to one of my comments.")
    dismiss(ctx, event, "Ignored: this finding will not be raised again on this merge request.")
    return Reply()


# -- rules of one repository -----------------------------------------------------------------------


@command(
    "remember",
    "/ai-review remember <rule>",
    "a rule for this repository's future reviews (Maintainers)",
    level=MAINTAINER,
)
def _remember(ctx: Context, event: NoteEvent, cmd: Command) -> Reply:
    if not cmd.argument:
        return Reply("Say what to remember: `/ai-review remember` followed by the rule, on one line.")
    number = ctx.ledger.conversations.remember(event.project_id, cmd.argument, claim=str(event.note.id))
    if number is None:
        return Reply(
            "This repository has as many rules as I keep: forget one first (`/ai-review help` lists them)."
        )
    return Reply(f"Remembered as rule {number} for this repository's reviews: {cmd.argument}")


@command(
    "forget", "/ai-review forget <n>", "remove rule n of this repository (Maintainers)", level=MAINTAINER
)
def _forget(ctx: Context, event: NoteEvent, cmd: Command) -> Reply:
    if not cmd.argument.isdigit():
        return Reply("Say which rule to forget by its number: `/ai-review help` lists them.")
    forgotten = ctx.ledger.conversations.forget(event.project_id, int(cmd.argument), claim=str(event.note.id))
    if forgotten is None:
        return Reply(f"There is no rule {cmd.argument}: `/ai-review help` lists them.")
    return Reply(f"Forgotten: {forgotten}")


assert set(ASPECTS) <= set(COMMANDS), "every aspect has its command"
