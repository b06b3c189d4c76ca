"""The review itself: planning and risk tiers, chunking, token counting, prompts, the engine that asks
the model aspects in parallel, findings and their merge, reports, evaluation, the deterministic detectors
(``reviewer.review.detectors``), and what a review remembers (``memory``: Protocols the app layer implements);
review depth: each hunk's enclosing context (``context``, ``outline``), the instructions a repository
already writes (``instructions``), and the second look before publishing (``verify``).

Rule: computation over a diff handed in; no GitLab, web framework, Redis, Celery or metrics; the
model is reached only through ``reviewer.model``.
"""

from typing import TYPE_CHECKING

from reviewer._exports import lazy_exports

if TYPE_CHECKING:
    from reviewer.review.context import EnclosingConfig
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
    from reviewer.review.files import FileReader
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
    from reviewer.review.instructions import (
        Instruction,
        RepositoryInstructions,
        describe_instructions,
        read_instructions,
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
        with_instructions,
    )
    from reviewer.review.report import render_report
    from reviewer.review.repository import (
        REPO_CONFIG_FILE,
        RepositoryRules,
        describe_repository,
        repository_rules,
    )
    from reviewer.review.tokens import TokenCounter, default_counter
    from reviewer.review.verdict import Override, Standing, Verdict, Verdicts, judge
    from reviewer.review.verify import SecondLookConfig

__all__ = [
    "ANSWER_SCHEMA",
    "ASPECTS",
    "REPO_CONFIG_FILE",
    "Analysis",
    "ConfigProblem",
    "EnclosingConfig",
    "Engine",
    "Explanation",
    "Failure",
    "FeedbackEvent",
    "FeedbackVerdict",
    "FileReader",
    "Finding",
    "Instruction",
    "Ledger",
    "ModelChoice",
    "Override",
    "ParsedAnswer",
    "Plan",
    "PlanConfig",
    "PostedFinding",
    "PromptStore",
    "PublishState",
    "RepositoryInstructions",
    "RepositoryRules",
    "SecondLookConfig",
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
    "describe_instructions",
    "describe_prompts",
    "describe_repository",
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
    "read_instructions",
    "render_evaluation",
    "render_report",
    "repository_rules",
    "review_local_diff",
    "to_record",
    "with_instructions",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "context": ("EnclosingConfig",),
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
        "files": ("FileReader",),
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
        "instructions": (
            "Instruction",
            "RepositoryInstructions",
            "describe_instructions",
            "read_instructions",
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
            "with_instructions",
        ),
        "report": ("render_report",),
        "repository": ("REPO_CONFIG_FILE", "RepositoryRules", "describe_repository", "repository_rules"),
        "tokens": ("TokenCounter", "default_counter"),
        "verdict": ("Override", "Standing", "Verdict", "Verdicts", "judge"),
        "verify": ("SecondLookConfig",),
    },
)
