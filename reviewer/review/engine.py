"""The review engine: plan a diff into chunks, ask the model aspects in parallel, validate,
place and merge their findings. Every entry point shares it (a merge request, a local diff).

A chunk whose answer was cut off at the model's length limit, or whose prompt is over the model's
context, is halved and each half asked again, at most ``MAX_HALVINGS`` times deep; what still
does not fit is a failure the summary names."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from reviewer.diff.parsing import DiffRefs, FileDiff, LineKind
from reviewer.diff.positions import Inline, LineIndex, Placement
from reviewer.errors import GatewayRejected, ModelOutputInvalid, PromptTooLong, TransientError
from reviewer.model.client import AnswerCutOff, AnswerInvalid, AspectAnswer, LLMClient
from reviewer.model.usage import Usage
from reviewer.review.chunking import halve
from reviewer.review.detectors.secrets import scan as scan_secrets
from reviewer.review.findings import Finding, select, with_fingerprint
from reviewer.review.planning import Chunk, Plan, PlanConfig, Tier, plan_review
from reviewer.review.prompts import PromptStore, TeamPolicy
from reviewer.review.tokens import TokenCounter

log = logging.getLogger(__name__)

MAX_HALVINGS = 2  # a chunk the model cannot take whole is asked about in at most four parts


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """Which model answers which aspect: per-aspect settings for full reviews, a cheaper one
    for trivial and lite reviews, and the fallbacks after either."""

    default: str
    lite: str | None = None
    per_aspect: Mapping[str, str] = field(default_factory=dict)
    fallbacks: tuple[str, ...] = ()

    def for_review(self, aspect: str, tier: Tier, policy: TeamPolicy) -> list[str]:
        """``aspect`` may join several (one call for all); per-aspect models apply to single ones."""
        if tier is Tier.FULL:
            first = policy.model or self.per_aspect.get(aspect) or self.default
        else:
            first = self.lite or policy.model or self.default
        return list(dict.fromkeys([first, *self.fallbacks]))


@dataclass(frozen=True, slots=True)
class Analysis:
    plan: Plan
    placed: list[tuple[Finding, Placement]]  # kept, most severe first
    over_cap: list[Finding]
    failures: list[str]  # what could not be reviewed, said plainly
    usage: Usage
    prompt_versions: dict[str, str]
    aspects: tuple[str, ...]
    model_calls: int
    seconds: float


@dataclass
class Engine:
    """The review engine: prompts, the model client and the planning policy, built once."""

    prompts: PromptStore
    llm: LLMClient | None
    models: ModelChoice
    plan_config: PlanConfig
    counter: TokenCounter
    concurrency: int = 8

    def analyse(
        self,
        files: Sequence[FileDiff],
        refs: DiffRefs,
        *,
        title: str,
        policy: TeamPolicy,
        metadata: Mapping[str, str | int | float | bool] | None = None,
        anchor_files: Sequence[FileDiff] | None = None,
        service: str = "",
    ) -> Analysis:
        """Review ``files``; findings anchor on ``anchor_files`` (the whole MR diff, when ``files``
        is only part of it) or on ``files``. ``service`` is the catalog's one-line description."""
        started = time.monotonic()
        secrets = scan_secrets(files)
        config = self.plan_config
        if policy.ignore_paths:
            config = replace(config, noise_globs=(*config.noise_globs, *policy.ignore_paths))
        plan = plan_review(files, config, self.counter, masker=secrets.masker)
        aspects = policy.aspects if self.llm is not None else ()
        tasks = [
            (chunk, group)
            for chunk in plan.chunks
            for group in _call_groups(aspects, plan.is_sensitive(chunk))
        ]
        results = self._run_aspects(tasks, plan, policy, title, metadata or {}, service)
        usage = Usage()
        failures: list[str] = []
        found: list[Finding] = list(secrets.findings)
        versions: dict[str, str] = {}
        for chunk, aspect, outcome in results:
            versions[aspect] = self.prompts.version(aspect, policy)
            if isinstance(outcome, BaseException):
                failures.append(_failure_text(aspect, chunk, outcome))
                if isinstance(outcome, AnswerInvalid):
                    usage = usage + outcome.usage
                continue
            usage = usage + outcome.usage
            found.extend(outcome.findings)
            if outcome.rejected:
                log.info("%s answer had %d invalid findings", aspect, len(outcome.rejected))
        if tasks and all(isinstance(r, TransientError) for *_, r in results):
            first = next(r for *_, r in results if isinstance(r, TransientError))
            raise TransientError(f"every model call failed: {first}", retry_after=first.retry_after)
        index = LineIndex(anchor_files if anchor_files is not None else files, refs)
        placed = [_place(index, f, secrets.masker) for f in found]
        placement_of = {id(f): p for f, p in placed}
        kept, over_cap = select([f for f, _ in placed], policy.thresholds)
        return Analysis(
            plan=plan,
            placed=[(f, placement_of[id(f)]) for f in kept],
            over_cap=over_cap,
            failures=failures,
            usage=usage,
            prompt_versions=versions,
            aspects=tuple(aspects),
            model_calls=len(tasks),
            seconds=time.monotonic() - started,
        )

    def _run_aspects(
        self,
        tasks: list[tuple[Chunk, str]],
        plan: Plan,
        policy: TeamPolicy,
        title: str,
        metadata: Mapping[str, str | int | float | bool],
        service: str,
    ) -> list[tuple[Chunk, str, Any]]:
        """(chunk or part of it, aspect, AspectAnswer or the error) for every call made."""
        if not tasks or self.llm is None:
            return []
        llm = self.llm

        def run(task: tuple[Chunk, str]) -> list[tuple[Chunk, str, Any]]:
            return ask(*task, depth=0)

        def ask(chunk: Chunk, aspect: str, depth: int) -> list[tuple[Chunk, str, Any]]:
            prompt = self.prompts.render(aspect, policy, diff=chunk.text, title=title, context=service)
            models = self.models.for_review(aspect, plan.tier, policy)
            # AI Gateway keeps at most 5 entries: team, project, mr, trigger and the prompt version
            # (which also tells the aspect apart).
            meta = {**metadata, "prompt": prompt.version}
            if policy.team:
                meta["team"] = policy.team
            try:
                return [
                    (chunk, aspect, llm.review(prompt.messages, models=models, aspect=aspect, metadata=meta))
                ]
            except (AnswerCutOff, PromptTooLong) as exc:
                halves = halve(chunk, plan.cutter) if plan.cutter and depth < MAX_HALVINGS else None
                if halves is None:
                    return [(chunk, aspect, exc)]
                log.info(
                    "%s call on %d tokens of diff: %s; asking about each half", aspect, chunk.tokens, exc
                )
                spent = [(chunk, aspect, _spent(exc))] if isinstance(exc, AnswerCutOff) else []
                return spent + [part for half in halves for part in ask(half, aspect, depth + 1)]
            except (TransientError, ModelOutputInvalid, GatewayRejected) as exc:
                return [(chunk, aspect, exc)]

        workers = max(1, min(self.concurrency, len(tasks)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aspect") as pool:
            return [call for calls in pool.map(run, tasks) for call in calls]


def _call_groups(aspects: Sequence[str], sensitive: bool) -> list[str]:
    """Which aspects share a model call. A chunk with security-sensitive files gives each aspect
    its own call (its own rules, model and attention, in parallel); any other chunk asks for all
    aspects in one call, so that its diff and the shared instructions are sent once."""
    if not aspects:
        return []
    if sensitive:
        return list(aspects)
    return ["+".join(aspects)]


def _place(index: LineIndex, finding: Finding, masker: Callable[[str], str]) -> tuple[Finding, Placement]:
    placement = index.place(finding.path, finding.line, finding.side, finding.end_line)
    if isinstance(placement, Inline):
        # Masked: a hash of a line holding a weak password could be reversed by guessing.
        return with_fingerprint(finding, [masker(ln.text) for ln in placement.lines]), placement
    return with_fingerprint(finding, [str(finding.line)], on_a_line=False), placement


def _spent(exc: AnswerCutOff) -> AspectAnswer:
    """What a cut-off answer cost, as an answer without findings (its halves bring those)."""
    return AspectAnswer((), (), exc.usage, exc.model, repaired=False)


def _span(chunk: Chunk) -> str:
    """Which lines of its one file a (halved) chunk holds: " (lines 4-9)"; new-file numbers,
    old-file ones for removed lines."""
    if len(chunk.files) != 1:
        return ""
    numbers = [
        line.new_no if line.new_no is not None else line.old_no
        for hunk in chunk.files[0].hunks
        for line in hunk.lines
        if line.kind is not LineKind.CONTEXT
    ]
    low, high = min(n for n in numbers if n is not None), max(n for n in numbers if n is not None)
    return f" (line {low})" if low == high else f" (lines {low}-{high})"


def _failure_text(aspect: str, chunk: Chunk, exc: BaseException) -> str:
    files = ", ".join(f"`{p}`" for p in chunk.paths[:5]) + (" and more" if len(chunk.paths) > 5 else "")
    if isinstance(exc, AnswerCutOff):
        return (
            f"{aspect} review of {files}{_span(chunk)}: the model's answer was cut off at its length "
            "limit, even for this part of the change (a higher REVIEWER_LLM_MAX_TOKENS may fit it)"
        )
    if isinstance(exc, PromptTooLong):
        return (
            f"{aspect} review of {files}{_span(chunk)}: the prompt is over the model's context window, "
            f"even for this part of the change ({exc})"
        )
    if isinstance(exc, ModelOutputInvalid):
        return f"{aspect} review of {files}: the model's answer stayed invalid ({exc})"
    if isinstance(exc, GatewayRejected):
        return f"{aspect} review of {files}: the model gateway refused the request ({exc})"
    return f"{aspect} review of {files}: the model gateway failed ({exc})"
