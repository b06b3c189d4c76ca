"""The summary note: verdict line, scope, findings not on a line, what was not reviewed or failed,
and cost, each piece masked and then rendered with the primitives of ``reviewer.gitlab.markdown``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import TypeVar

from reviewer.gitlab.markdown import MAX_LISTED, Markdown, _line, _made, code, sanitize
from reviewer.gitlab.markers import SUMMARY_MARKER
from reviewer.gitlab.summary import SummaryInput
from reviewer.review.engine import Failure
from reviewer.review.findings import Finding, Severity

T = TypeVar("T")


def summary(s: SummaryInput) -> Markdown:
    """The one summary note: verdict line, scope, findings not on a line, what was not reviewed or
    failed, and cost. Every path, title, body, reason and failure is masked, then rendered here."""
    mask: Callable[[str], str] = s.mask or (lambda text: text)
    lines = [SUMMARY_MARKER, "### AI review", "", _headline(s), "", _scope(s, mask)]

    def placed_elsewhere(item: tuple[Finding, str]) -> str:
        finding, reason = item
        where = code(f"{mask(finding.path)}:{finding.line}")
        title, why = _line(mask(finding.title)), _line(mask(reason))
        text = f"- **{finding.severity.value}** {where} {title} ({why})"
        body = sanitize(mask(finding.body)).replace("\n", "\n  ") if finding.body.strip() else ""
        return f"{text}\n  {body}" if body else text

    if s.in_summary:
        lines += ["", "**Findings not placed on a line**", "", *_listed(s.in_summary, placed_elsewhere)]
    if s.resolved:
        lines += ["", f"{_count(s.resolved, 'earlier thread')} resolved: the code changed."]
    if s.over_cap:
        lines += ["", f"{len(s.over_cap)} lower-priority findings were left out to keep the review short."]
    if s.off_diff:
        lines += ["", f"{_count(s.off_diff, 'finding')} dropped: not about a file of this MR."]
    lines += _second_look(s)
    if s.plan.skipped:
        lines += ["", f"<details><summary>Not reviewed: {_count(len(s.plan.skipped), 'file')}</summary>", ""]
        lines += _listed(s.plan.skipped, lambda k: f"- {code(mask(k.path))}: {_line(mask(k.reason))}")
        lines += ["", "</details>"]
    if s.failures:

        def failed(f: Failure) -> str:
            files = ", ".join(code(mask(p)) for p in f.paths[:5]) + (" and more" if len(f.paths) > 5 else "")
            return f"- {_line(f.aspect)} review of {files}: {_line(f.problem)} ({_line(mask(f.detail))})"

        lines += ["", "**Could not complete**", "", *_listed(s.failures, failed)]
    if s.unreviewed:
        shown = ", ".join(code(mask(path)) for path in s.unreviewed[:MAX_LISTED])
        more = f" and {len(s.unreviewed) - MAX_LISTED} more" if len(s.unreviewed) > MAX_LISTED else ""
        lines += [
            "",
            f"Not reviewed yet: {shown}{more}. The next push or `/ai-review` reviews "
            f"{'them' if len(s.unreviewed) != 1 else 'it'}; what was reviewed is not asked again.",
        ]
    if not s.model_configured:
        lines += ["", "Model review is off (no gateway configured): deterministic checks only."]
    lines += ["", _footer(s)]
    return _made("\n".join(lines))


def _second_look(s: SummaryInput) -> list[str]:
    """What the second look dropped, or why it could not check."""
    lines = []
    if s.second_look_dropped:
        lines += ["", f"{_count(s.second_look_dropped, 'finding')} dropped on a second look."]
    if s.second_look_problem:
        lines += ["", _line(f"Not checked: {s.second_look_problem}.")]
    return lines


def _headline(s: SummaryInput) -> str:
    found = [*s.inline, *(f for f, _ in s.in_summary)]
    if not found and not s.already_posted:
        return "No issues found." if not s.failures else "No issues found in what could be reviewed."
    counts = Counter(f.severity for f in found)
    parts = [f"{counts[sev]} {sev.value}" for sev in Severity if counts[sev]]
    text = _count(len(found), "new finding") + (f" ({', '.join(parts)})" if parts else "")
    text += f": {len(s.inline)} on their lines"
    if s.in_summary:
        text += f", {len(s.in_summary)} below"
    if s.already_posted:
        text += f"; {s.already_posted} already raised in earlier threads"
    return text + "."


def _scope(s: SummaryInput, mask: Callable[[str], str]) -> str:
    plan = s.plan
    aspects = ", ".join(_line(a) for a in s.aspects) if s.aspects else "deterministic checks"
    head = code(s.head_sha[:12])
    what = f"the changes since {code(s.since[:12])} up to {head}" if s.since else head
    if s.retried:
        again = _count(len(s.retried), "file")
        before = f"{again} whose review could not complete before"
        what += f" ({before})" if s.since else f" again: {before}"
    return (
        f"Reviewed {what}: {_count(plan.reviewed_files, 'file')}, "
        f"{_count(plan.changed_lines, 'changed line')}, "
        f"tier **{plan.tier.value}** ({_line(mask(plan.tier_reason))}); aspects: {aspects}."
    )


def _footer(s: SummaryInput) -> str:
    u = s.usage
    versions = ", ".join(f"{_line(a)} {code(v)}" for a, v in sorted(s.prompt_versions.items())) or "none"
    return (
        f"<sub>Tokens: {u.prompt_tokens} prompt ({u.cached_tokens} cached), {u.completion_tokens} "
        f"completion; cost ${u.cost:.4f}. Prompt versions: {versions}. "
        "Comment `/ai-review` to review again.</sub>"
    )


def _listed(items: Sequence[T], render: Callable[[T], str]) -> list[str]:
    more = [f"- and {len(items) - MAX_LISTED} more"] if len(items) > MAX_LISTED else []
    return [render(item) for item in items[:MAX_LISTED]] + more


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def failed_review(head_sha: str | None, what_failed: str) -> Markdown:
    """The summary note of a review that failed for good: what failed and how to ask again;
    earlier threads stay as they are."""
    head = f" of {code(head_sha[:12])}" if head_sha else ""
    lines = [
        SUMMARY_MARKER,
        "### AI review",
        "",
        f"**The review{head} could not be completed:** {_line(what_failed)}",
        "",
        "Threads from earlier reviews are unchanged. Comment `/ai-review` to try again.",
    ]
    return _made("\n".join(lines))
