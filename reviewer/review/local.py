"""Local review: the same engine over a unified diff (a file, stdin, or `git diff`), printed as a
report (text, json, GitLab Code Quality, SARIF) instead of posted."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from reviewer.diff.parsing import DiffRefs, FileDiff, parse_unified
from reviewer.review.engine import Analysis, Engine
from reviewer.review.findings import Severity
from reviewer.review.prompts import TeamPolicy
from reviewer.review.report import render_report

LOCAL_REFS = DiffRefs("local", "local", "local")


def analyse_local_diff(
    engine: Engine,
    files: Sequence[FileDiff],
    *,
    title: str = "local change",
    policy: TeamPolicy | None = None,
    service: str = "",
    trigger: str = "local",
    head_files: Callable[[str], str | None] | None = None,
) -> Analysis:
    """The engine's analysis of a local diff; ``service`` is the catalog's line about it,
    ``head_files`` reads the files as the diff's new side has them (for enclosing context)."""
    return engine.analyse(
        files,
        LOCAL_REFS,
        title=title,
        policy=policy or engine.prompts.policy(None),
        metadata={"trigger": trigger},
        service=service,
        head_files=head_files,
    )


def review_local_diff(
    engine: Engine,
    text: str,
    *,
    fmt: str = "text",
    title: str = "local change",
    policy: TeamPolicy | None = None,
    head_files: Callable[[str], str | None] | None = None,
) -> tuple[str, Severity | None]:
    """Review a diff's text; returns the report and the worst severity found (None when clean)."""
    analysis = analyse_local_diff(
        engine, parse_unified(text), title=title, policy=policy, head_files=head_files
    )
    findings = [finding for finding, _ in analysis.placed]
    report = render_report(
        findings,
        fmt,  # type: ignore[arg-type]
        skipped=analysis.plan.skipped,
        tier=analysis.plan.tier,
        usage=analysis.usage,
        failures=[str(f) for f in analysis.failures],
    )
    worst = max((f.severity for f in findings), key=lambda s: s.rank, default=None)
    return report, worst
