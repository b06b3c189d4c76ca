"""The review itself: planning and risk tiers, chunking, token counting, prompts, the engine that asks
the model aspects in parallel, findings and their merge, reports, evaluation, the deterministic detectors
(``reviewer.review.detectors``), and what a review remembers (``memory``: Protocols the app layer implements).

Rule: computation over a diff handed in; no GitLab, web framework, Redis, Celery or metrics; the
model is reached only through ``reviewer.model``.
"""

from typing import TYPE_CHECKING

from reviewer._exports import lazy_exports

if TYPE_CHECKING:
    from reviewer.review.discussion import ThreadContext, answer_in_thread, numbered_excerpt
    from reviewer.review.engine import Analysis, Engine, Failure, ModelChoice
    from reviewer.review.evaluation import evaluate, load_cases, render_evaluation
    from reviewer.review.explain import Explanation, explain_finding
    from reviewer.review.feedback import (
        FeedbackEvent,
        FeedbackVerdict,
        PostedFinding,
        Signal,
        eval_case,
        event_verdict,
        feedback_verdict,
        posted_findings,
    )
    from reviewer.review.findings import (
        ANSWER_SCHEMA,
        Finding,
        ParsedAnswer,
        Severity,
        Side,
        Thresholds,
        code_hash,
        from_record,
        parse_answer,
        to_record,
    )
    from reviewer.review.local import analyse_local_diff, review_local_diff
    from reviewer.review.memory import Ledger, PublishState, Unfinished
    from reviewer.review.planning import Plan, PlanConfig, Skipped, Tier
    from reviewer.review.prompts import (
        ASPECTS,
        ConfigProblem,
        PromptStore,
        TeamPolicy,
        apply_overrides,
        describe_prompts,
        parse_overrides,
    )
    from reviewer.review.report import render_report
    from reviewer.review.repository import REPO_CONFIG_FILE, RepositoryRules, repository_rules
    from reviewer.review.tokens import TokenCounter, default_counter
    from reviewer.review.verdict import Override, Standing, Verdict, Verdicts, judge

__all__ = [
    "ANSWER_SCHEMA",
    "ASPECTS",
    "REPO_CONFIG_FILE",
    "Analysis",
    "ConfigProblem",
    "Engine",
    "Explanation",
    "Failure",
    "FeedbackEvent",
    "FeedbackVerdict",
    "Finding",
    "Ledger",
    "ModelChoice",
    "Override",
    "ParsedAnswer",
    "Plan",
    "PlanConfig",
    "PostedFinding",
    "PromptStore",
    "PublishState",
    "RepositoryRules",
    "Severity",
    "Side",
    "Signal",
    "Skipped",
    "Standing",
    "TeamPolicy",
    "ThreadContext",
    "Thresholds",
    "Tier",
    "TokenCounter",
    "Unfinished",
    "Verdict",
    "Verdicts",
    "analyse_local_diff",
    "answer_in_thread",
    "apply_overrides",
    "code_hash",
    "default_counter",
    "describe_prompts",
    "eval_case",
    "evaluate",
    "event_verdict",
    "explain_finding",
    "feedback_verdict",
    "from_record",
    "judge",
    "load_cases",
    "numbered_excerpt",
    "parse_answer",
    "parse_overrides",
    "posted_findings",
    "render_evaluation",
    "render_report",
    "repository_rules",
    "review_local_diff",
    "to_record",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "discussion": ("ThreadContext", "answer_in_thread", "numbered_excerpt"),
        "engine": ("Analysis", "Engine", "Failure", "ModelChoice"),
        "evaluation": ("evaluate", "load_cases", "render_evaluation"),
        "explain": ("Explanation", "explain_finding"),
        "feedback": (
            "FeedbackEvent",
            "FeedbackVerdict",
            "PostedFinding",
            "Signal",
            "eval_case",
            "event_verdict",
            "feedback_verdict",
            "posted_findings",
        ),
        "findings": (
            "ANSWER_SCHEMA",
            "Finding",
            "ParsedAnswer",
            "Severity",
            "Side",
            "Thresholds",
            "code_hash",
            "from_record",
            "parse_answer",
            "to_record",
        ),
        "local": ("analyse_local_diff", "review_local_diff"),
        "memory": ("Ledger", "PublishState", "Unfinished"),
        "planning": ("Plan", "PlanConfig", "Skipped", "Tier"),
        "prompts": (
            "ASPECTS",
            "ConfigProblem",
            "PromptStore",
            "TeamPolicy",
            "apply_overrides",
            "describe_prompts",
            "parse_overrides",
        ),
        "report": ("render_report",),
        "repository": ("REPO_CONFIG_FILE", "RepositoryRules", "repository_rules"),
        "tokens": ("TokenCounter", "default_counter"),
        "verdict": ("Override", "Standing", "Verdict", "Verdicts", "judge"),
    },
)
