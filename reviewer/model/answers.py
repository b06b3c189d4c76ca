"""A findings answer from the model: validated against the findings contract, repaired at most once.

``review`` in ``reviewer.model.client`` asks; this module says whether the answer is usable, what
the repair request says, and what comes back to the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reviewer.errors import ModelOutputInvalid
from reviewer.model.calls import Message
from reviewer.model.usage import Usage
from reviewer.review.findings import Finding, ParsedAnswer, parse_answer

_REPAIR_ERROR_MAX_CHARS = 300


@dataclass(frozen=True)
class AspectAnswer:
    findings: tuple[Finding, ...]
    rejected: tuple[str, ...]  # one reason per answer item that did not validate
    usage: Usage  # all calls, repair included
    model: str
    repaired: bool


class AnswerInvalid(ModelOutputInvalid):
    """The answer did not validate, even after one repair request. Carries what the calls cost."""

    def __init__(self, message: str, *, aspect: str, model: str, usage: Usage) -> None:
        super().__init__(message)
        self.aspect = aspect
        self.model = model
        self.usage = usage


class AnswerCutOff(AnswerInvalid):
    """The answer stopped at its length limit (``finish_reason: "length"``) before it was whole:
    asking again about less (half the chunk) may fit, a repair request would not."""


def cut_off(aspect: str, model: str, usage: Usage) -> AnswerCutOff:
    return AnswerCutOff(
        f"{aspect}: the answer from {model} was cut off at its length limit",
        aspect=aspect,
        model=model,
        usage=usage,
    )


def validate(text: str, aspect: str) -> tuple[ParsedAnswer | None, str]:
    """The parsed answer, or None and why: not JSON, wrong shape, or no item valid."""
    try:
        parsed = parse_answer(text, aspect)
    except ModelOutputInvalid as exc:
        return None, str(exc)
    if not parsed.findings and parsed.rejected:
        return None, "no finding is valid: " + "; ".join(parsed.rejected)
    return parsed, ""


def repair_messages(messages: Sequence[Message], answer: str, error: str) -> list[Message]:
    """The conversation so far, the invalid answer, and a request naming what was wrong."""
    request = (
        f"That answer is not valid: {error[:_REPAIR_ERROR_MAX_CHARS]}. "
        'Reply with only the JSON object {"findings": [...]} in the required schema: '
        "no prose, no code fences."
    )
    return [*messages, {"role": "assistant", "content": answer}, {"role": "user", "content": request}]
