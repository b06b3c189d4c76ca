"""What a merge request review remembers between runs, as the domain sees it.

The pipeline and the engine depend on these Protocols only; the application layer implements them
(``reviewer.app.state``, in Redis), so the domain imports no storage.

- ``AnswerStore``: the model's answers for one head of one MR, keyed by the question asked
  (aspect, prompt version, the chunk's text). Each answer is stored as soon as it arrives, before
  anything is written to GitLab, so a retried or resumed review of that head asks the model
  nothing it already answered and gets the same findings, word for word (the same fingerprints).
- ``Ledger``: the last head reviewed completely, a head reviewed only in part (with the files
  whose model calls failed, reviewed again by the next trigger), the findings the summary
  lists, the ``/ai-review`` cooldown, and how the MR's reviews are published
  (``PublishState``: draft notes unavailable, approval refused, the last verdict, an override).
  What people told the bot (``/ai-review pause``, ``ignore``, ``remember``) it reads here, and
  what a review posts and what people did with earlier findings (``reviewer.review.feedback``) it
  records here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from reviewer.model.client import AspectAnswer
from reviewer.model.usage import Usage
from reviewer.review.feedback import FeedbackEvent, PostedFinding
from reviewer.review.findings import Finding, from_record, to_record
from reviewer.review.verdict import Override

__all__ = [
    "AnswerStore",
    "Ledger",
    "PublishState",
    "Unfinished",
    "answer_key",
    "dump_answer",
    "load_answer",
]


class AnswerStore(Protocol):
    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Unfinished:
    """A head reviewed in part: the files whose model calls failed for good."""

    head_sha: str
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PublishState:
    """How a merge request's reviews are published, remembered between reviews."""

    drafts_unavailable: bool = False  # GitLab refused the Draft Notes API here: threads go one by one
    approval_refused: str = ""  # GitLab's answer when the bot tried to approve without the right
    verdict: str = ""  # the verdict last published ("" before the first)
    overridden: bool = False  # whether an override applied to it
    override: Override | None = None  # the command override recorded for the MR
    override_counted: bool = False  # the override metric has counted this MR

    def as_record(self) -> dict[str, Any]:
        return {
            "drafts_unavailable": self.drafts_unavailable,
            "approval_refused": self.approval_refused,
            "verdict": self.verdict,
            "overridden": self.overridden,
            "override": self.override.as_record() if self.override else None,
            "override_counted": self.override_counted,
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> PublishState:
        override = data.get("override")
        return cls(
            bool(data.get("drafts_unavailable")),
            str(data.get("approval_refused") or ""),
            str(data.get("verdict") or ""),
            bool(data.get("overridden")),
            Override.from_record(override) if isinstance(override, dict) else None,
            bool(data.get("override_counted")),
        )


class Ledger(Protocol):
    def last_reviewed(self, project_id: int, iid: int) -> str | None:
        """The last head reviewed completely (a head reviewed in part is not)."""
        ...

    def unfinished(self, project_id: int, iid: int) -> Unfinished | None:
        """The last review, when it was partial and newer than ``last_reviewed``."""
        ...

    def record(
        self,
        project_id: int,
        iid: int,
        head_sha: str,
        in_summary: Sequence[tuple[Finding, str]] = (),
        *,
        unfinished: Sequence[str] = (),
    ) -> None:
        """A review of ``head_sha`` published; ``unfinished`` names the files it could not review."""
        ...

    def in_summary(self, project_id: int, iid: int) -> list[tuple[Finding, str]]: ...

    def allow_command(self, project_id: int, iid: int, head_sha: str, delivery: str = "") -> bool:
        """Whether a ``/ai-review`` may run now; a retry of the same delivery always may."""
        ...

    def answers(self, project_id: int, iid: int, head_sha: str) -> AnswerStore: ...

    def publish_state(self, project_id: int | str, iid: int) -> PublishState: ...

    def save_publish_state(self, project_id: int | str, iid: int, state: PublishState) -> None: ...

    # people in the loop (reviewer.app.commands, conversations, feedback)

    def paused(self, project_id: int, iid: int) -> bool:
        """Automatic reviews of this MR are paused (``/ai-review pause``); commands still run."""
        ...

    def ignored(self, project_id: int, iid: int) -> frozenset[str]:
        """Fingerprints people dismissed on this MR: never raised again there."""
        ...

    def rules(self, project_id: int) -> tuple[str, ...]:
        """The rules remembered for the repository (``/ai-review remember``), oldest first."""
        ...

    def posted(self, project_id: int, iid: int, findings: Sequence[PostedFinding]) -> None:
        """Findings a review just posted, with what their feedback is counted by."""
        ...

    def feedback(self, project_id: int, iid: int, events: Sequence[FeedbackEvent]) -> None:
        """What people did with earlier findings (a re-review reads it from their threads)."""
        ...


def answer_key(aspect: str, prompt_version: str, chunk_text: str) -> str:
    """The question a model call asks: the same diff text under the same prompts is the same
    question, whatever the MR's title or catalog entry said that day."""
    material = "\x1f".join([aspect, prompt_version, chunk_text])
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def dump_answer(answer: AspectAnswer) -> str:
    usage = {**asdict(answer.usage), "unpriced": sorted(answer.usage.unpriced)}
    return json.dumps(
        {
            "findings": [to_record(f) for f in answer.findings],
            "rejected": list(answer.rejected),
            "usage": usage,
            "model": answer.model,
            "repaired": answer.repaired,
        }
    )


def load_answer(text: str) -> AspectAnswer | None:
    """A stored answer, or None when it was written by another version (then it is asked again)."""
    try:
        data: dict[str, Any] = json.loads(text)
        usage = dict(data["usage"])
        return AspectAnswer(
            findings=tuple(from_record(record) for record in data["findings"]),
            rejected=tuple(str(r) for r in data["rejected"]),
            usage=Usage(**{**usage, "unpriced": frozenset(usage.get("unpriced", ()))}),
            model=str(data["model"]),
            repaired=bool(data["repaired"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
