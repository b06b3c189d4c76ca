"""The summary note: verdict line, findings count, scope, findings on their lines (linked to their
threads), findings not on a line, what was not reviewed or failed, settings not applied, the bot's
approval, a per-file table, and cost, each piece masked and then rendered with the primitives of
``reviewer.gitlab.markdown``.

The only links are to the MR's own notes: ``{web_url}#note_{id}``, the URL GitLab gave for the MR
(http or https, checked) and the id GitLab gave the note; nothing of the model's text is a link.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TypeVar

from reviewer.diff.parsing import FileDiff, LineKind
from reviewer.gitlab.markdown import MAX_LISTED, Markdown, _line, _made, code, sanitize
from reviewer.gitlab.markers import SUMMARY_MARKER
from reviewer.gitlab.summary import SummaryInput
from reviewer.review.engine import Failure
from reviewer.review.findings import Finding, Severity
from reviewer.review.prompts import ConfigProblem
from reviewer.review.verdict import Verdict, Verdicts

T = TypeVar("T")

TABLE_FROM = 4  # files: an MR of more gets the per-file table
_WEB_URL = re.compile(r"https?://[^\s()<>\[\]\\`'\"#|]+")
_VERDICT_ICON = {Verdict.LOOKS_GOOD: "✅", Verdict.COMMENTS: "💬", Verdict.CHANGES_REQUESTED: "⛔"}


def summary(s: SummaryInput) -> Markdown:
    """The one summary note: verdict line, findings, scope, findings not on a line, what was not
    reviewed or failed, settings, approval, files, and cost. Every path, title, body, reason and
    failure is masked, then rendered here."""
    mask: Callable[[str], str] = s.mask or (lambda text: text)
    lines = [SUMMARY_MARKER, "### AI review", ""]
    if s.verdicts is not None:
        lines += [_verdict(s.verdicts, s), ""]
    lines += [_headline(s), "", _scope(s, mask)]
    if s.rebased:
        lines += [
            "",
            f"The head moved to {code(s.head_sha[:12])} without changing this merge request's own "
            "changes (a rebase): no new changes to review.",
        ]
    if s.refusals:
        lines += [""] + [f"Override by {code(who)} not applied: {_line(why)}." for who, why in s.refusals[:5]]
    if s.inline:

        def on_line(finding: Finding) -> str:
            where = code(f"{mask(finding.path)}:{finding.line}")
            link = _note_link(s, s.note_ids.get(finding.fingerprint), "thread")
            return f"- **{finding.severity.value}** {where} {_line(mask(finding.title))}" + (
                f" ({link})" if link else ""
            )

        lines += ["", "**Findings on their lines**", "", *_listed(s.inline, on_line)]

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
    if s.problems:

        def problem(p: ConfigProblem) -> str:
            return f"- {code(p.source)}: {code(p.key)}: {_line(p.reason)}"

        lines += ["", "**Settings not applied**", "", *_listed(s.problems, problem)]
    approval = _approval(s)
    if approval:
        lines += ["", approval]
    if not s.model_configured:
        lines += ["", "Model review is off (no gateway configured): deterministic checks only."]
    if len(s.files) >= TABLE_FROM:
        lines += ["", *_file_table(s, mask)]
    lines += ["", _footer(s)]
    return _made("\n".join(lines))


def _verdict(v: Verdicts, s: SummaryInput) -> str:
    icon = _VERDICT_ICON[v.verdict]
    if v.verdict is Verdict.LOOKS_GOOD:
        if not v.complete:
            return f"{icon} **Verdict: looks good so far.** Not every file could be reviewed yet (below)."
        return f"{icon} **Verdict: looks good.** No open findings."
    if v.verdict is Verdict.COMMENTS:
        return f"{icon} **Verdict: comments.** {_count(v.open, 'open finding')}, none blocking."
    kinds = Counter(f"{b.severity.value} {b.aspect}" for b in v.blocking)
    which = ", ".join(f"{n} {_line(kind)}" for kind, n in sorted(kinds.items()))
    links = [_note_link(s, b.note_id, "thread") for b in v.blocking[:10]]
    threads = ", ".join(link for link in links if link)
    text = f"{_count(len(v.blocking), 'blocking finding')} ({which})" + (f": {threads}" if threads else "")
    if v.override is not None:
        o = v.override
        why = _line(o.reason)
        how = f"with the label {code(o.reason)}" if o.source == "label" else f"because: {why.rstrip('.')}"
        return f"{icon} **Verdict: changes requested, overridden** by {code(o.by)} {how}. {text}."
    return f"{icon} **Verdict: changes requested.** {text}."


def _note_link(s: SummaryInput, note_id: int | None, label: str) -> str:
    """A link to a note of this MR, or "" when GitLab gave no usable URL or id."""
    if note_id is None or not isinstance(note_id, int) or not _WEB_URL.fullmatch(s.web_url):
        return ""
    return f"[{label}]({s.web_url}#note_{note_id})"


def _approval(s: SummaryInput) -> str:
    if s.approval == "approved":
        return f"Approved at {code(s.head_sha[:12])}: the verdict is clean."
    if s.approval == "unapproved":
        return "Approval withdrawn: a finding blocks this merge request."
    if s.approval == "refused":
        why = _line(s.approval_refused or "GitLab refused it")
        return (
            f"Could not approve: the bot may not approve merge requests here ({why}); it will not try again."
        )
    return ""


def _file_table(s: SummaryInput, mask: Callable[[str], str]) -> list[str]:
    found = Counter(f.path for f in [*s.inline, *(f for f, _ in s.in_summary), *s.already])

    def row(f: FileDiff) -> str:
        name = code(mask(f.path)).replace("|", "\\|")  # a pipe would end the table cell
        if f.is_binary:
            lines = "binary"
        elif not f.hunks:
            lines = "not shown"
        else:
            kinds = Counter(line.kind for hunk in f.hunks for line in hunk.lines)
            lines = f"+{kinds[LineKind.ADDED]} -{kinds[LineKind.REMOVED]}"
        return f"| {name} | {f.status.value} | {lines} | {found.get(f.path, 0)} |"

    return [
        f"<details><summary>Files: {len(s.files)}</summary>",
        "",
        "| File | Change | Lines | Findings |",
        "|---|---|---|---|",
        *_listed(s.files, row),
        "",
        "</details>",
    ]


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
