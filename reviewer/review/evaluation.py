"""Measuring a prompt before it ships: recorded changes with expected findings, scored.

A case is a unified diff ``NAME.diff`` beside ``NAME.expected.yaml`` (or ``.json``)::

    title: Look users up by name          # optional: the MR title the model sees
    findings:                              # what a careful reviewer raises; [] for a clean change
      - {path: app/db.py, line: 6, aspect: security}
      - {path: app/db.py, line: 9, side: new, aspect: style}

The engine reviews every case exactly as it reviews a merge request (same planning, prompts,
team policy, thresholds, second look). With the second look on, the findings it dropped are scored
too: precision and recall with and without it, from the same answers. A finding matches an
expected one on the same path and side, within
``tolerance`` lines, and of the same aspect when the case names one; each matches at most once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from reviewer.diff.parsing import DiffRefs, parse_unified
from reviewer.errors import ConfigError
from reviewer.model.usage import Usage
from reviewer.review.engine import Engine
from reviewer.review.findings import Finding
from reviewer.review.prompts import TeamPolicy

_REFS = DiffRefs("eval", "eval", "eval")


@dataclass(frozen=True, slots=True)
class Expected:
    path: str
    line: int
    side: str = "new"
    aspect: str | None = None


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    diff: str
    expected: tuple[Expected, ...]
    title: str = ""


@dataclass
class Score:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 1.0

    def add(self, other: Score) -> None:
        self.true_positives += other.true_positives
        self.false_positives += other.false_positives
        self.false_negatives += other.false_negatives


@dataclass
class CaseResult:
    case: str
    score: Score
    missed: list[Expected]
    unexpected: list[Finding]
    failures: list[str]


@dataclass
class Evaluation:
    prompt_versions: dict[str, str] = field(default_factory=dict)
    cases: list[CaseResult] = field(default_factory=list)
    by_aspect: dict[str, Score] = field(default_factory=dict)
    total: Score = field(default_factory=Score)
    usage: Usage = field(default_factory=Usage)
    before_second_look: Score = field(default_factory=Score)  # the same findings, none dropped
    second_look_checked: int = 0  # findings the second look checked (0: it was off)
    second_look_dropped: int = 0


def load_cases(folder: Path) -> list[Case]:
    """Every ``*.diff`` of ``folder`` (recursively) with its expected findings."""
    cases = []
    for diff_path in sorted(folder.rglob("*.diff")):
        stem = diff_path.with_suffix("")
        spec_path = next(
            (
                p
                for p in (stem.with_suffix(".expected.yaml"), stem.with_suffix(".expected.json"))
                if p.is_file()
            ),
            None,
        )
        if spec_path is None:
            raise ConfigError(f"{diff_path}: no {stem.name}.expected.yaml or .expected.json beside it")
        cases.append(_case(diff_path, spec_path, folder))
    if not cases:
        raise ConfigError(f"{folder} holds no *.diff cases")
    return cases


def _case(diff_path: Path, spec_path: Path, folder: Path) -> Case:
    try:
        text = spec_path.read_text(encoding="utf-8")
        spec = json.loads(text) if spec_path.suffix == ".json" else yaml.safe_load(text)
        expected = tuple(
            Expected(str(f["path"]), int(f["line"]), str(f.get("side", "new")), f.get("aspect"))
            for f in (spec or {}).get("findings") or ()
        )
    except (ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{spec_path}: {exc}") from None
    return Case(
        name=str(diff_path.relative_to(folder).with_suffix("")),
        diff=diff_path.read_bytes().decode("utf-8", errors="replace"),
        expected=expected,
        title=str((spec or {}).get("title") or ""),
    )


def evaluate(engine: Engine, cases: Sequence[Case], policy: TeamPolicy, *, tolerance: int = 3) -> Evaluation:
    result = Evaluation()
    for case in cases:
        analysis = engine.analyse(parse_unified(case.diff), _REFS, title=case.title, policy=policy)
        found = [finding for finding, _ in analysis.placed]
        dropped = [finding for finding, _ in analysis.second_look.dropped]
        result.before_second_look.add(score_case(case, [*found, *dropped], tolerance).score)
        result.second_look_checked += analysis.second_look.checked
        result.second_look_dropped += len(dropped)
        case_result = score_case(case, found, tolerance)
        case_result.failures = [str(f) for f in analysis.failures]
        result.cases.append(case_result)
        result.total.add(case_result.score)
        result.usage = result.usage + analysis.usage
        result.prompt_versions.update(analysis.prompt_versions)
        for aspect, score in _by_aspect(case, found, tolerance).items():
            result.by_aspect.setdefault(aspect, Score()).add(score)
    return result


def score_case(case: Case, found: Sequence[Finding], tolerance: int) -> CaseResult:
    unmatched = list(case.expected)
    unexpected = []
    for finding in found:
        match = next((e for e in unmatched if _matches(e, finding, tolerance)), None)
        if match is None:
            unexpected.append(finding)
        else:
            unmatched.remove(match)
    score = Score(len(found) - len(unexpected), len(unexpected), len(unmatched))
    return CaseResult(case.name, score, unmatched, unexpected, [])


def _by_aspect(case: Case, found: Sequence[Finding], tolerance: int) -> dict[str, Score]:
    aspects = {f.aspect for f in found} | {e.aspect for e in case.expected if e.aspect}
    scores = {}
    for aspect in aspects:
        subset = Case(case.name, case.diff, tuple(e for e in case.expected if e.aspect in (aspect, None)))
        scores[aspect] = score_case(subset, [f for f in found if f.aspect == aspect], tolerance).score
    return scores


def _matches(expected: Expected, finding: Finding, tolerance: int) -> bool:
    return (
        expected.path == finding.path
        and expected.side == finding.side.value
        and abs(expected.line - finding.line) <= tolerance
        and expected.aspect in (None, finding.aspect)
    )


def render_evaluation(evaluation: Evaluation, label: str = "") -> str:
    lines = [
        f"prompts {label}".strip()
        + ": "
        + ", ".join(f"{a} {v}" for a, v in sorted(evaluation.prompt_versions.items()))
    ]
    lines.append(f"{'':<24}{'precision':>10}{'recall':>8}{'tp':>5}{'fp':>5}{'fn':>5}")
    for name, score in [*sorted(evaluation.by_aspect.items()), ("all", evaluation.total)]:
        lines.append(
            f"{name:<24}{score.precision:>10.2f}{score.recall:>8.2f}"
            f"{score.true_positives:>5}{score.false_positives:>5}{score.false_negatives:>5}"
        )
    if evaluation.second_look_checked:
        before = evaluation.before_second_look
        lines.append(
            f"{'all, no 2nd look':<24}{before.precision:>10.2f}{before.recall:>8.2f}"
            f"{before.true_positives:>5}{before.false_positives:>5}{before.false_negatives:>5}"
        )
        lines.append(
            f"  the second look checked {evaluation.second_look_checked} findings and dropped "
            f"{evaluation.second_look_dropped}"
        )
    for case in evaluation.cases:
        for expected in case.missed:
            lines.append(
                f"  missed  {case.case}: {expected.path}:{expected.line} ({expected.aspect or 'any'})"
            )
        for finding in case.unexpected:
            lines.append(
                f"  extra   {case.case}: {finding.path}:{finding.line} {finding.aspect}: {finding.title}"
            )
        for failure in case.failures:
            lines.append(f"  failed  {case.case}: {failure}")
    u = evaluation.usage
    lines.append(
        f"{len(evaluation.cases)} cases; {u.prompt_tokens} prompt tokens, "
        f"{u.completion_tokens} completion, ${u.cost:.4f}"
    )
    return "\n".join(lines)
