"""Prometheus metrics, of one process or of every process of a host.

Counting happens wherever the work is: the intake counts deliveries, Celery worker processes count
reviews, findings and tokens. So that all of it reaches Prometheus:

- ``setup(settings)``, called once by every ``reviewer serve`` and ``reviewer worker`` process at
  start (before it forks pool children), switches prometheus_client to its multiprocess mode: each
  process writes its counts to files in ``PROMETHEUS_MULTIPROC_DIR`` (default
  ``REVIEWER_STATE_DIR/metrics``), and a scrape adds up the files of every process of the host, the
  ones that have exited included. The intake's ``GET /metrics`` serves that sum.
- A worker on a host without an intake serves its host's sum on its own port:
  ``start_metrics_server(settings.metrics_port)`` (``REVIEWER_METRICS_PORT``).

Without ``setup`` a process counts in memory and ``/metrics`` shows that process alone.
Always refer to a metric as ``metrics.NAME`` at the point of use: ``setup`` defines them anew.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import psutil
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from reviewer.app.config import export_variable

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from reviewer.app.config import Settings

# prometheus_client reads this variable when a metric value is created, and child processes inherit it.
MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

REGISTRY: CollectorRegistry
WEBHOOKS: Counter
REVIEWS: Counter
FINDINGS: Counter
TOKENS: Counter
COST: Counter
REVIEW_SECONDS: Histogram
SPOOL_DRAINED: Counter
REVIEW_FAILURES: Counter
QUEUE_WAIT_SECONDS: Histogram
MODEL_CALLS: Counter
MODEL_TOKENS: Counter
MODEL_COST: Counter
FEEDBACK: Counter
OVERRIDES: Counter
SECOND_LOOK: Counter

_multiprocess_dir: Path | None = None


def _define() -> None:
    global REGISTRY, WEBHOOKS, REVIEWS, FINDINGS, TOKENS, COST, REVIEW_SECONDS, SPOOL_DRAINED
    global REVIEW_FAILURES, QUEUE_WAIT_SECONDS, MODEL_CALLS, MODEL_TOKENS, MODEL_COST, FEEDBACK, OVERRIDES
    global SECOND_LOOK
    REGISTRY = CollectorRegistry(auto_describe=True)
    WEBHOOKS = Counter("reviewer_webhooks", "Webhook deliveries by outcome", ["outcome"], registry=REGISTRY)
    REVIEWS = Counter("reviewer_reviews", "Reviews by outcome", ["outcome", "tier"], registry=REGISTRY)
    FINDINGS = Counter(
        "reviewer_findings", "Findings by aspect and placement", ["aspect", "placement"], registry=REGISTRY
    )
    TOKENS = Counter("reviewer_llm_tokens", "Model tokens by kind", ["kind", "team"], registry=REGISTRY)
    COST = Counter("reviewer_llm_cost_usd", "Model cost in US dollars", ["team"], registry=REGISTRY)
    REVIEW_SECONDS = Histogram(
        "reviewer_review_seconds",
        "Wall time of one review",
        registry=REGISTRY,
        buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
    )
    SPOOL_DRAINED = Counter(
        "reviewer_spool_drained", "Spooled deliveries queued once the broker answered", registry=REGISTRY
    )
    # for the dashboard (docker/grafana/dashboards/reviewer.json)
    REVIEW_FAILURES = Counter(
        "reviewer_review_failures",
        "Reviews that failed for good (their summary note says so), by what failed",
        ["reason"],
        registry=REGISTRY,
    )
    QUEUE_WAIT_SECONDS = Histogram(
        "reviewer_queue_wait_seconds",
        "Time from a review's enqueueing to its first start on a worker",
        registry=REGISTRY,
        buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
    )
    MODEL_CALLS = Counter(
        "reviewer_llm_calls",
        "Model calls by team, the model that answered (or was tried last) and outcome (answered, failed)",
        ["team", "model", "outcome"],
        registry=REGISTRY,
    )
    MODEL_TOKENS = Counter(
        "reviewer_llm_model_tokens",
        "Model tokens by team, model and kind",
        ["team", "model", "kind"],
        registry=REGISTRY,
    )
    MODEL_COST = Counter(
        "reviewer_llm_model_cost_usd",
        "Model cost in US dollars by team and model",
        ["team", "model"],
        registry=REGISTRY,
    )
    FEEDBACK = Counter(
        "reviewer_finding_feedback",
        "What people did with the bot's findings: verdict accepted (applied, resolved as fixed, thumbs up) "
        "or dismissed (won't fix, false positive, thumbs down)",
        ["team", "aspect", "verdict"],
        registry=REGISTRY,
    )
    OVERRIDES = Counter(
        "reviewer_overrides", "Break-glass overrides of the bot's verdict", ["team"], registry=REGISTRY
    )
    SECOND_LOOK = Counter(
        "reviewer_second_look_findings",
        "Findings the second look checked, by verdict: kept, dropped (never posted), or unchecked "
        "(its call failed and every finding was kept)",
        ["team", "verdict"],
        registry=REGISTRY,
    )


_define()


def setup(settings: Settings) -> Path:
    """Count in ``settings.metrics_dir`` (``PROMETHEUS_MULTIPROC_DIR``), by default
    ``state_dir/metrics``, shared with every other process of this host; returns the directory."""
    directory = settings.metrics_dir or settings.state_dir / "metrics"
    configure_multiprocess(directory)
    return directory


def configure_multiprocess(directory: Path | None) -> None:
    """Count in files under ``directory`` (None: in this process's memory). Call it before
    anything is counted: the metrics are defined anew. Files of processes that are no longer
    running are removed first, so a restarted host starts its counters from zero."""
    global _multiprocess_dir
    if directory is not None and directory == _multiprocess_dir:
        return
    close = getattr(values.ValueClass, "close_all_files", None)
    if callable(close):
        close()
    if directory is None:
        export_variable(MULTIPROC_VARIABLE, None)
        values.ValueClass = values.MutexValue
    else:
        directory.mkdir(parents=True, exist_ok=True)
        _remove_files_of_exited_processes(directory)
        export_variable(MULTIPROC_VARIABLE, str(directory))
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]  # prometheus_client is untyped here
    _multiprocess_dir = directory
    _define()


def process_exited(pid: int) -> None:
    """Tell the multiprocess files that ``pid`` has exited (a Celery pool child, a web worker):
    its live gauges stop counting; its counters stay in the sum."""
    if _multiprocess_dir is not None:
        mark_process_dead(pid, str(_multiprocess_dir))  # type: ignore[no-untyped-call]


class _Counted(Collector):
    """What this host counted: every process's files in multiprocess mode, else this process."""

    def collect(self) -> Iterable[Metric]:
        if _multiprocess_dir is not None:
            collector = MultiProcessCollector(None, path=str(_multiprocess_dir))  # type: ignore[no-untyped-call]
            return cast("Iterable[Metric]", collector.collect())  # type: ignore[no-untyped-call]
        return REGISTRY.collect()


def scrape_registry(*extra: Collector) -> CollectorRegistry:
    """A registry to expose: the counted metrics plus ``extra`` collectors computed at scrape time."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in (_Counted(), *extra):
        registry.register(collector)
    return registry


def start_metrics_server(port: int, addr: str = "0.0.0.0") -> Any:
    """Serve this host's metrics at ``http://addr:port/metrics`` from a daemon thread (for a
    ``reviewer worker`` on a host without an intake). Returns prometheus_client's (server, thread)."""
    return start_http_server(port, addr, registry=scrape_registry())


def _remove_files_of_exited_processes(directory: Path) -> None:
    for path in directory.glob("*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
