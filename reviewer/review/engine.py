"""The review engine: plan a diff into chunks, ask the model aspects in parallel, validate,
place and merge their findings. Every entry point shares it (a merge request, a local diff).

A chunk whose answer was cut off at the model's length limit, or whose prompt is over the model's
context, is halved and each half asked again, at most ``MAX_HALVINGS`` times deep; what still
does not fit is a failure the summary names."""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from reviewer.diff.parsing import DiffRefs, FileDiff, FileStatus, LineKind
from reviewer.diff.positions import Inline, LineIndex, Placement
from reviewer.errors import GatewayRejected, ModelOutputInvalid, PromptTooLong, TransientError
from reviewer.model.client import AnswerCutOff, AnswerInvalid, AspectAnswer, LLMClient
from reviewer.model.usage import Usage
from reviewer.review.chunking import halve, line_span
from reviewer.review.context import EnclosingConfig, EnclosingContext
from reviewer.review.detectors.secrets import scan as scan_secrets
from reviewer.review.detectors.secrets import scan_text
from reviewer.review.files import FileReader, read_all
from reviewer.review.findings import Finding, select, with_fingerprint
from reviewer.review.memory import AnswerStore, answer_key, dump_answer, load_answer
from reviewer.review.planning import Chunk, Plan, PlanConfig, Tier, plan_review, reviewed_files
from reviewer.review.prompts import PromptStore, TeamPolicy
from reviewer.review.tokens import TokenCounter
from reviewer.review.verify import SecondLook, SecondLookConfig, second_look

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
class Failure:
    """A model call that gave no findings: the aspect, the files it covered, what went wrong.

    Plain data (``str()`` gives a plain sentence); the GitLab renderer formats it. Paths and the
    detail are masked by the review's secret masker.
    """

    aspect: str
    paths: tuple[str, ...]
    problem: str
    detail: str

    def __str__(self) -> str:
        files = ", ".join(self.paths[:5]) + (" and more" if len(self.paths) > 5 else "")
        return f"{self.aspect} review of {files}: {self.problem} ({self.detail})"


@dataclass(frozen=True, slots=True)
class Analysis:
    plan: Plan
    placed: list[tuple[Finding, Placement]]  # kept, most severe first
    over_cap: list[Finding]
    failures: list[Failure]  # what could not be reviewed
    usage: Usage  # every answer this analysis stands on, stored ones included
    prompt_versions: dict[str, str]
    aspects: tuple[str, ...]
    model_calls: int  # questions for the model (answered now, from the store, or failed)
    seconds: float
    failed_paths: tuple[str, ...] = ()  # files of chunks whose model call failed for good
    reused: int = 0  # answers taken from the store instead of asking the model again
    spent: Usage = field(default_factory=Usage)  # what this run's own model calls cost

    off_diff: int = 0  # model findings dropped because their path is no file of the diff
    masker: Callable[[str], str] = str  # masks every secret the detector found in the diff
    head_texts: Mapping[str, str | None] = field(default_factory=dict)  # reviewed files at head
    second_look: SecondLook = field(default_factory=SecondLook)  # what it checked and dropped
    models: dict[str, str] = field(default_factory=dict)  # aspect (group) -> the model that answered
    spent_by_model: dict[str, Usage] = field(default_factory=dict)  # this run's calls, per model

    @property
    def complete(self) -> bool:
        return not self.failed_paths

    def without(self, fingerprints: Collection[str]) -> Analysis:
        """The analysis without the findings of these fingerprints (people dismissed them)."""
        if not fingerprints:
            return self
        return replace(self, placed=[(f, p) for f, p in self.placed if f.fingerprint not in fingerprints])


@dataclass
class Engine:
    """The review engine: prompts, the model client and the planning policy, built once."""

    prompts: PromptStore
    llm: LLMClient | None
    models: ModelChoice
    plan_config: PlanConfig
    counter: TokenCounter
    concurrency: int = 8
    enclosing: EnclosingConfig = field(default_factory=EnclosingConfig)
    second: SecondLookConfig = field(default_factory=SecondLookConfig)  # off unless configured

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
        answers: AnswerStore | None = None,
        head_files: FileReader | None = None,
    ) -> Analysis:
        """Review ``files``; findings anchor on ``anchor_files`` (the whole MR diff, when ``files``
        is only part of it) or on ``files``. ``service`` is the catalog's one-line description.
        With ``answers``, a question already answered for this head is not asked again, and each
        new answer is stored as it arrives. ``head_files`` reads a file as the head has it: each
        reviewed file is read once, in parallel, for the enclosing context of its hunks."""
        started = time.monotonic()
        config = self.plan_config
        if policy.ignore_paths:
            config = replace(config, noise_globs=(*config.noise_globs, *policy.ignore_paths))
        texts: Mapping[str, str | None] = {}
        reviewed = reviewed_files(files, config)
        if head_files is not None and self.enclosing.enabled:
            paths = [f.new_path for f in reviewed if f.status is not FileStatus.DELETED]
            texts = read_all(head_files, paths, concurrency=self.concurrency)
        enclosing = EnclosingContext(
            texts, _enclosing_for(reviewed, config, self.enclosing), self.counter.count
        )
        # Lines of the head that may be sent are scanned for secrets with the diff's own.
        secrets = scan_secrets([*files, *enclosing.scanned_lines(files)])
        plan = plan_review(
            files, config, self.counter, masker=secrets.masker, around=enclosing.around if texts else None
        )
        aspects = policy.aspects if self.llm is not None else ()
        tasks = [
            (chunk, group)
            for chunk in plan.chunks
            for group in _call_groups(aspects, plan.is_sensitive(chunk))
        ]
        shown_title = scan_text([title])(secrets.masker(title))  # a title can hold a key of its own
        results = self._run_aspects(tasks, plan, policy, shown_title, metadata or {}, service, answers)
        usage = spent = Usage()
        failures: list[Failure] = []
        failed_paths: dict[str, None] = {}
        reused = 0
        found: list[Finding] = list(secrets.findings)
        versions: dict[str, str] = {}
        answered_by: dict[str, str] = {}
        by_model: dict[str, Usage] = {}
        for chunk, aspect, outcome, stored in results:
            versions[aspect] = self.prompts.version(aspect, policy)
            if isinstance(outcome, BaseException):
                failures.append(_failure(aspect, chunk, outcome, secrets.masker))
                failed_paths.update(dict.fromkeys(chunk.paths))
                if isinstance(outcome, AnswerInvalid):
                    usage, spent = usage + outcome.usage, spent + outcome.usage
                continue
            usage = usage + outcome.usage
            answered_by[aspect] = outcome.model
            if not stored:
                spent = spent + outcome.usage
                by_model[outcome.model] = by_model.get(outcome.model, Usage()) + outcome.usage
            reused += stored
            found.extend(_named_as_given(outcome.findings, policy))
            if outcome.rejected:
                log.info("%s answer had %d invalid findings", aspect, len(outcome.rejected))
        if tasks and all(isinstance(r[2], TransientError) for r in results):
            first = next(r[2] for r in results if isinstance(r[2], TransientError))
            raise TransientError(f"every model call failed: {first}", retry_after=first.retry_after)
        index = LineIndex(anchor_files if anchor_files is not None else files, refs)
        on_diff = _on_diff_files(index, found)
        if len(on_diff) < len(found):
            log.info("dropped %d findings naming no file of the diff", len(found) - len(on_diff))
        placed = [_place(index, f, secrets.masker) for f in on_diff]
        placement_of = {id(f): p for f, p in placed}
        kept, over_cap = select([f for f, _ in placed], policy.thresholds)
        kept, look = self._second_look(
            kept,
            anchor_files if anchor_files is not None else files,
            texts,
            secrets.masker,
            {**(metadata or {}), "trigger": "second-look"},
            answers,
        )
        usage, spent = usage + look.usage, spent + look.spent
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
            failed_paths=tuple(failed_paths),
            reused=reused,
            spent=spent,
            off_diff=len(found) - len(on_diff),
            masker=secrets.masker,
            head_texts=texts,
            second_look=look,
            models=answered_by,
            spent_by_model=by_model,
        )

    def _second_look(
        self,
        kept: list[Finding],
        files: Sequence[FileDiff],
        texts: Mapping[str, str | None],
        masker: Callable[[str], str],
        metadata: Mapping[str, str | int | float | bool],
        answers: AnswerStore | None,
    ) -> tuple[list[Finding], SecondLook]:
        if not self.second.enabled or self.llm is None:
            return kept, SecondLook()
        first = self.second.model or self.models.lite or self.models.default
        return second_look(
            kept,
            llm=self.llm,
            prompts=self.prompts,
            models=list(dict.fromkeys([first, *self.models.fallbacks])),
            files=files,
            texts=texts,
            masker=masker,
            config=self.second,
            metadata=metadata,
            answers=answers,
        )

    def _run_aspects(
        self,
        tasks: list[tuple[Chunk, str]],
        plan: Plan,
        policy: TeamPolicy,
        title: str,
        metadata: Mapping[str, str | int | float | bool],
        service: str,
        answers: AnswerStore | None,
    ) -> list[tuple[Chunk, str, Any, bool]]:
        """(chunk or part of it, aspect, AspectAnswer or the error, whether it came from the
        store) for every question asked."""
        if not tasks or self.llm is None:
            return []
        llm = self.llm

        def run(task: tuple[Chunk, str]) -> list[tuple[Chunk, str, Any, bool]]:
            return ask(*task, depth=0)

        def ask(chunk: Chunk, aspect: str, depth: int) -> list[tuple[Chunk, str, Any, bool]]:
            prompt = self.prompts.render(
                aspect, policy, diff=chunk.text, title=title, context=service, paths=chunk.paths
            )
            key = answer_key(aspect, prompt.version, chunk.text)
            stored = answers.get(key) if answers is not None else None
            known = load_answer(stored) if stored else None
            if known is not None:
                return [(chunk, aspect, known, True)]
            models = self.models.for_review(aspect, plan.tier, policy)
            # AI Gateway keeps at most 5 entries: team, project, mr, trigger and the prompt version
            # (which also tells the aspect apart).
            meta = {**metadata, "prompt": prompt.version}
            if policy.team:
                meta["team"] = policy.team
            try:
                answer = llm.review(prompt.messages, models=models, aspect=aspect, metadata=meta)
            except (AnswerCutOff, PromptTooLong) as exc:
                halves = halve(chunk, plan.cutter) if plan.cutter and depth < MAX_HALVINGS else None
                if halves is None:
                    return [(chunk, aspect, exc, False)]
                log.info(
                    "%s call on %d tokens of diff: %s; asking about each half", aspect, chunk.tokens, exc
                )
                spent = [(chunk, aspect, _spent(exc), False)] if isinstance(exc, AnswerCutOff) else []
                return spent + [part for half in halves for part in ask(half, aspect, depth + 1)]
            except (TransientError, ModelOutputInvalid, GatewayRejected) as exc:
                return [(chunk, aspect, exc, False)]
            if answers is not None:
                answers.put(key, dump_answer(answer))
            return [(chunk, aspect, answer, False)]

        workers = max(1, min(self.concurrency, len(tasks)))
        review_context = contextvars.copy_context()  # the review's deadline reaches its model calls
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aspect") as pool:
            calls = pool.map(lambda task: review_context.copy().run(run, task), tasks)
            return [call for task_calls in calls for call in task_calls]


def _call_groups(aspects: Sequence[str], sensitive: bool) -> list[str]:
    """Which aspects share a model call. A chunk with security-sensitive files gives each aspect
    its own call (its own rules, model and attention, in parallel); any other chunk asks for all
    aspects in one call, so that its diff and the shared instructions are sent once."""
    if not aspects:
        return []
    if sensitive:
        return list(aspects)
    return ["+".join(aspects)]


def _enclosing_for(files: Sequence[FileDiff], plan: PlanConfig, config: EnclosingConfig) -> EnclosingConfig:
    """In a large MR (over ``lite_max_lines`` changed lines, where the planner keeps fewer
    unchanged lines too) every line sent costs: signatures only, no function whole."""
    changed = sum(1 for f in files for h in f.hunks for ln in h.lines if ln.kind is not LineKind.CONTEXT)
    return replace(config, function_tokens=0) if changed > plan.lite_max_lines else config


def _named_as_given(findings: Sequence[Finding], policy: TeamPolicy) -> list[Finding]:
    """The findings, each naming an instruction only when it is one the team gave for its file:
    a name is the model's text, and a finding must not claim a rule nobody wrote."""
    return [
        f
        if f.instruction is None or any(i.name == f.instruction for i in policy.instructions_for([f.path]))
        else replace(f, instruction=None)
        for f in findings
    ]


def _on_diff_files(index: LineIndex, findings: Sequence[Finding]) -> list[Finding]:
    """The findings whose path names a file of the diff, each under that file's own path; the
    others are dropped, never echoed: a path is the model's text, and can say anything."""
    kept = []
    for finding in findings:
        file = index.file(finding.path)
        if file is None:
            continue
        if finding.path not in (file.old_path, file.new_path):
            finding = replace(finding, path=file.path)
        kept.append(finding)
    return kept


def _place(index: LineIndex, finding: Finding, masker: Callable[[str], str]) -> tuple[Finding, Placement]:
    # The model never saw a secret; masking its text anyway keeps one it guessed out of GitLab.
    finding = replace(
        finding,
        title=masker(finding.title),
        body=masker(finding.body),
        suggestion=masker(finding.suggestion) if finding.suggestion is not None else None,
    )
    placement = index.place(finding.path, finding.line, finding.side, finding.end_line)
    if isinstance(placement, Inline):
        # Masked: a hash of a line holding a weak password could be reversed by guessing.
        return with_fingerprint(finding, [masker(ln.text) for ln in placement.lines]), placement
    return with_fingerprint(finding, [str(finding.line)], on_a_line=False), placement


def _spent(exc: AnswerCutOff) -> AspectAnswer:
    """What a cut-off answer cost, as an answer without findings (its halves bring those)."""
    return AspectAnswer((), (), exc.usage, exc.model, repaired=False)


def _failure(aspect: str, chunk: Chunk, exc: BaseException, masker: Callable[[str], str]) -> Failure:
    if isinstance(exc, AnswerCutOff):
        problem = (
            f"the model's answer was cut off at its length limit, even for this part{line_span(chunk)} "
            "(a higher REVIEWER_LLM_MAX_TOKENS may fit it)"
        )
    elif isinstance(exc, PromptTooLong):
        problem = f"the prompt is over the model's context window, even for this part{line_span(chunk)}"
    elif isinstance(exc, ModelOutputInvalid):
        problem = "the model's answer stayed invalid"
    elif isinstance(exc, GatewayRejected):
        problem = "the model gateway refused the request"
    else:
        problem = "the model gateway failed"
    return Failure(aspect, tuple(masker(p) for p in chunk.paths), problem, masker(str(exc)))
