"""The one summary note per merge request, edited in place on every review.

It says what was reviewed and how (head, tier, aspects, prompt versions), what was found, every
finding that could not go inline and why, every file that was not reviewed and why, what failed,
and what it cost. A clean MR gets a short note and no inline noise.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from reviewer.gitlab.client import SUMMARY_MARKER, GitLabClient
from reviewer.gitlab.publish import sanitize
from reviewer.model.usage import Usage
from reviewer.review.findings import Finding, Severity
from reviewer.review.planning import Plan

_MAX_LISTED = 50


@dataclass(frozen=True, slots=True)
class SummaryInput:
    head_sha: str
    plan: Plan
    inline: list[Finding]
    in_summary: list[tuple[Finding, str]]
    already_posted: int
    over_cap: list[Finding]
    failures: list[str]
    usage: Usage
    prompt_versions: dict[str, str]
    aspects: tuple[str, ...]
    model_configured: bool = True
    since: str | None = None  # a follow-up review: what changed since this head
    resolved: int = 0  # earlier threads resolved because their line changed


def render_summary(s: SummaryInput) -> str:
    lines = [SUMMARY_MARKER, "### AI review", ""]
    lines.append(_headline(s))
    lines.append("")
    lines.append(_scope(s))
    if s.in_summary:
        lines += ["", "**Findings not placed on a line**", ""]
        for finding, reason in s.in_summary[:_MAX_LISTED]:
            lines.append(
                f"- **{finding.severity.value}** `{_code(finding.path)}:{finding.line}` "
                f"{sanitize(finding.title)} ({reason})"
            )
            if finding.body:
                lines.append(f"  {_indent(sanitize(finding.body))}")
        if len(s.in_summary) > _MAX_LISTED:
            lines.append(f"- and {len(s.in_summary) - _MAX_LISTED} more")
    if s.resolved:
        lines += [
            "",
            f"{s.resolved} earlier thread{'s' if s.resolved != 1 else ''} resolved: the code changed.",
        ]
    if s.over_cap:
        lines += ["", f"{len(s.over_cap)} lower-priority findings were left out to keep the review short."]
    if s.plan.skipped:
        lines += ["", f"<details><summary>Not reviewed: {_count(len(s.plan.skipped), 'file')}</summary>", ""]
        for skipped in s.plan.skipped[:_MAX_LISTED]:
            lines.append(f"- `{_code(skipped.path)}`: {skipped.reason}")
        if len(s.plan.skipped) > _MAX_LISTED:
            lines.append(f"- and {len(s.plan.skipped) - _MAX_LISTED} more")
        lines += ["", "</details>"]
    if s.failures:
        lines += ["", "**Could not complete**", ""]
        lines += [f"- {failure}" for failure in s.failures[:_MAX_LISTED]]
    if not s.model_configured:
        lines += ["", "Model review is off (no gateway configured): deterministic checks only."]
    lines += ["", _footer(s)]
    return "\n".join(lines)


def report_failure(
    gitlab: GitLabClient, project: int | str, iid: int, *, head_sha: str | None, what_failed: str
) -> int:
    """Say in the summary note (edited in place) that the review failed for good, what failed and
    how to ask again; earlier threads stay as they are."""
    head = f" of `{head_sha[:12]}`" if head_sha else ""
    body = "\n".join(
        [
            SUMMARY_MARKER,
            "### AI review",
            "",
            f"**The review{head} could not be completed:** {sanitize(what_failed)}",
            "",
            "Threads from earlier reviews are unchanged. Comment `/ai-review` to try again.",
        ]
    )
    return gitlab.upsert_summary(project, iid, body)


def _headline(s: SummaryInput) -> str:
    found = [*s.inline, *(f for f, _ in s.in_summary)]
    if not found and not s.already_posted:
        return "No issues found." if not s.failures else "No issues found in what could be reviewed."
    counts = Counter(f.severity for f in found)
    parts = [f"{counts[sev]} {sev.value}" for sev in Severity if counts[sev]]
    text = f"{len(found)} new finding{'s' if len(found) != 1 else ''}"
    if parts:
        text += f" ({', '.join(parts)})"
    text += f": {len(s.inline)} on their lines"
    if s.in_summary:
        text += f", {len(s.in_summary)} below"
    if s.already_posted:
        text += f"; {s.already_posted} already raised in earlier threads"
    return text + "."


def _scope(s: SummaryInput) -> str:
    plan = s.plan
    aspects = ", ".join(s.aspects) if s.aspects else "deterministic checks"
    what = (
        f"the changes since `{s.since[:12]}` up to `{s.head_sha[:12]}`" if s.since else f"`{s.head_sha[:12]}`"
    )
    return (
        f"Reviewed {what}: {_count(plan.reviewed_files, 'file')}, "
        f"{_count(plan.changed_lines, 'changed line')}, "
        f"tier **{plan.tier.value}** ({plan.tier_reason}); aspects: {aspects}."
    )


def _footer(s: SummaryInput) -> str:
    u = s.usage
    versions = ", ".join(f"{a} `{v}`" for a, v in sorted(s.prompt_versions.items())) or "none"
    return (
        f"<sub>Tokens: {u.prompt_tokens} prompt ({u.cached_tokens} cached), {u.completion_tokens} "
        f"completion; cost ${u.cost:.4f}. Prompt versions: {versions}. "
        "Comment `/ai-review` to review again.</sub>"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _code(path: str) -> str:
    return path.replace("`", "'")


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")
