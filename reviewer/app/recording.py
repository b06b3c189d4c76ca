"""What a review job leaves for the platform pages: a ``ReviewRecord`` (reviewer.app.records) made
of what the review reported on its way (``ReviewCapture``, a ``reviewer.pipeline.ReviewObserver``
that passes everything on to another observer) and the job's outcome.

Every text is masked before it is kept, as the review masks what it writes: the secrets the
detector found in the diff (the review's own masker), the secrets the same detector finds in the
texts themselves (a title can hold a token the diff does not), and the configured ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any

from reviewer.app import redaction
from reviewer.app.records import ReviewRecord
from reviewer.gitlab.client import MergeRequestInfo
from reviewer.pipeline import ReviewObserver, ReviewOutcome
from reviewer.review.detectors.secrets import scan_text
from reviewer.review.engine import Analysis
from reviewer.review.verdict import Override

MAX_TEXT = 300


class ReviewCapture:
    """Keeps what one review job reports, and passes it on to ``forward`` (the metrics)."""

    def __init__(self, forward: ReviewObserver | None = None, *, started_at: float) -> None:
        self._forward = forward
        self.started_at = started_at
        self.info: MergeRequestInfo | None = None
        self.team = ""
        self.analysis: Analysis | None = None
        self.outcome: ReviewOutcome | None = None

    def opened(self, info: MergeRequestInfo) -> None:
        self.info = info
        if self._forward is not None:
            self._forward.opened(info)

    def analysed(self, team: str, analysis: Analysis) -> None:
        self.team, self.analysis = team, analysis
        if self._forward is not None:
            self._forward.analysed(team, analysis)

    def overridden(self, team: str, override: Override) -> None:
        if self._forward is not None:
            self._forward.overridden(team, override)

    def finished(self, outcome: ReviewOutcome) -> None:
        self.outcome = outcome
        if self._forward is not None:
            self._forward.finished(outcome)

    def record(
        self, job_id: str, project_id: int, iid: int, trigger: str, outcome: Mapping[str, Any]
    ) -> ReviewRecord:
        """The record of the job that ended with ``outcome`` (the task's result)."""
        info, analysis = self.info, self.analysis
        texts = {
            "project": info.project_path if info else "",
            "title": info.title if info else "",
            "web_url": info.web_url if info else "",
            "reason": str(outcome.get("reason") or ""),
        }
        mask = _masker(analysis.masker if analysis else str, list(texts.values()))
        shown = {name: mask(text)[:MAX_TEXT] for name, text in texts.items()}
        spent = analysis.spent if analysis else None
        unreviewed: Sequence[Any] = outcome.get("unreviewed") or ()
        return ReviewRecord(
            job_id=job_id,
            project_id=project_id,
            iid=iid,
            status=str(outcome.get("status", "")),
            started_at=self.started_at,
            finished_at=float(outcome.get("finished_at") or self.started_at),
            project=shown["project"],
            title=shown["title"],
            web_url=shown["web_url"] if shown["web_url"].startswith(("https://", "http://")) else "",
            team=self.team,
            trigger=trigger,
            reason=shown["reason"],
            tier=outcome.get("tier") or (analysis.plan.tier.value if analysis else None),
            verdict=_verdict(outcome.get("verdict", getattr(self.outcome, "verdict", None))),
            inline=int(outcome.get("inline") or 0),
            in_summary=int(outcome.get("in_summary") or 0),
            already_posted=int(outcome.get("already_posted") or 0),
            findings=dict(Counter(aspect for aspect, _ in self.outcome.findings)) if self.outcome else {},
            prompt_tokens=spent.prompt_tokens if spent else 0,
            completion_tokens=spent.completion_tokens if spent else 0,
            cost=spent.cost if spent else 0.0,
            reused=analysis.reused if analysis else 0,
            failures=len(analysis.failures) if analysis else 0,
            unreviewed=len(unreviewed),
            prompt_versions=dict(analysis.prompt_versions) if analysis else {},
            head_sha=str(outcome.get("head_sha") or ""),
        )


def _masker(diff_masker: Callable[[str], str], texts: Sequence[str]) -> Callable[[str], str]:
    detected = scan_text([diff_masker(text) for text in texts])
    return lambda text: redaction.redact(detected(diff_masker(text)))


def _verdict(value: object) -> str | None:
    """The review's verdict as words (an enum's value, or the text), None when there is none."""
    if value is None or value == "":
        return None
    text = str(value.value if isinstance(value, Enum) else value)
    return text.replace("_", " ")[:40]
