"""The review task's policy, run by a real Celery worker (in a thread of this process, as `reviewer
serve` runs it) on a real Redis: lock waits and failure retries on separate budgets, a failure that
says so on the MR and in a metric, a deadline, a redelivered job that is not run twice, the sweep."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import signals
from fakes.gateway_server import FakeGateway, error, hang
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo
from review_stack import FAST, FINDINGS, open_todo_mr, summaries, thread_titles, todo_model, wait_for

from reviewer.app import metrics
from reviewer.app.config import Settings
from reviewer.app.events import ReviewJob
from reviewer.app.locks import MergeRequestLocks
from reviewer.app.records import ReviewRecord, ReviewRecords
from reviewer.app.state import connect
from workers import tasks
from workers.celery_app import REVIEW_TASK, SWEEP_TASK
from workers.runtime import CeleryRuntime, Running
from workers.tasks import enqueue_review

EXPECTED = sorted(f"Unfinished error handling on line {4 * n + 2}" for n in range(FINDINGS))


@dataclass
class Stack:
    gitlab: GitLabStandIn
    gateway: FakeGateway
    project_id: int
    iid: int
    home: Path
    runs: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (task, id, kwargs)
    running: Running | None = None

    def start(self, **settings: Any) -> Running:
        values = {**FAST, **settings}
        self.running = CeleryRuntime().start(
            Settings(
                gitlab_url=self.gitlab.url,
                gitlab_token=self.gitlab.token,
                llm_base_url=self.gateway.base_url,
                llm_api_key="gateway-key",
                llm_model="m",
                state_dir=self.home / "state",
                **values,
            ),
            worker=True,
        )
        return self.running

    def enqueue(self, iid: int | None = None, trigger: str = "opened") -> str:
        assert self.running is not None
        job = ReviewJob(self.project_id, iid or self.iid, trigger)
        return enqueue_review(self.running.celery, job, "test-delivery")

    def result(self, task_id: str, timeout: float = 60) -> dict[str, Any]:
        assert self.running is not None
        return dict(
            self.running.celery.AsyncResult(task_id).get(timeout=timeout, disable_sync_subtasks=False)
        )

    def runs_of(self, task_id: str) -> list[dict[str, Any]]:
        return [kwargs for _, run_id, kwargs in list(self.runs) if run_id == task_id]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with GitLabStandIn() as gitlab, FakeGateway(responder=todo_model) as gateway:
        project_id, iid = open_todo_mr(gitlab, tmp_path / "app")
        stack = Stack(gitlab, gateway, project_id, iid, tmp_path)
        lock = threading.Lock()

        def record(sender: Any = None, task_id: str = "", kwargs: Any = None, **_: Any) -> None:
            with lock:
                stack.runs.append((sender.name, task_id, dict(kwargs or {})))

        signals.task_prerun.connect(record, weak=False)
        try:
            yield stack
        finally:
            signals.task_prerun.disconnect(record)
            if stack.running is not None:
                stack.running.close()


def _failures(reason: str) -> float:
    """Counted in this host's metrics (the runtime counts across processes, so scrape them all)."""
    return (
        metrics.scrape_registry().get_sample_value("reviewer_review_failures_total", {"reason": reason})
        or 0.0
    )


def test_waiting_for_the_mr_lock_spends_none_of_the_budget_for_failures(stack: Stack) -> None:
    running = stack.start(max_retries=1, lock_ttl=1.0, llm_max_attempts=1)
    holder = MergeRequestLocks(connect(running.redis_url), ttl=1.0).try_hold(stack.project_id, stack.iid)
    assert holder is not None  # another review of the MR is running
    stack.gateway.script(error(500))  # then its own review needs its one retry
    task_id = stack.enqueue()
    wait_for(lambda: len(stack.runs_of(task_id)) >= 4, 30, lambda: "three lock waits")
    holder.release()

    outcome = stack.result(task_id)

    assert outcome["status"] == "reviewed"
    last = stack.runs_of(task_id)[-1]
    assert last["lock_waits"] >= 3 and last["transient_retries"] == 1
    assert thread_titles(stack.gitlab, stack.project_id, stack.iid) == EXPECTED


def test_a_review_that_fails_for_good_says_so_in_its_summary_note_and_is_counted(stack: Stack) -> None:
    stack.start(max_retries=1, llm_max_attempts=1)
    stack.gateway.script(*[error(500)] * 10)
    before = _failures("retries_exhausted")

    outcome = stack.result(stack.enqueue())

    assert outcome["status"] == "failed"
    assert len(stack.gateway.requests) == 2  # the first try and its one retry
    (summary,) = summaries(stack.gitlab, stack.project_id, stack.iid)
    assert "could not be completed" in summary and "every model call failed" in summary
    assert "Comment `/ai-review` to try again" in summary
    assert _failures("retries_exhausted") == before + 1


def test_an_unexpected_error_is_a_final_failure_that_names_only_its_type(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: Any, **kwargs: Any) -> None:  # stands for a bug; nothing else can make one
        raise KeyError("glpat-looks-like-a-token")

    monkeypatch.setattr(tasks, "review_merge_request", crash)
    stack.start()
    before = _failures("internal")

    task_id = stack.enqueue()
    outcome = stack.result(task_id)

    assert outcome["status"] == "failed"
    (summary,) = summaries(stack.gitlab, stack.project_id, stack.iid)
    assert "an internal error (KeyError)" in summary and "glpat" not in summary
    assert _failures("internal") == before + 1
    assert stack.running is not None
    (record,) = ReviewRecords(connect(stack.running.redis_url)).recent()
    assert (record.job_id, record.status, record.project_id) == (task_id, "failed", stack.project_id)
    assert "an internal error (KeyError)" in record.reason and "glpat" not in record.as_json()


def test_a_stuck_review_is_stopped_at_its_deadline_and_says_so(stack: Stack) -> None:
    stack.start(review_deadline=1.0)
    stack.gateway.script(hang(30))  # the gateway accepts the call and never answers
    before = _failures("deadline")

    outcome = stack.result(stack.enqueue())

    assert outcome["status"] == "failed" and "took over 1 s" in str(outcome["reason"])
    (summary,) = summaries(stack.gitlab, stack.project_id, stack.iid)
    assert "took over 1 s" in summary
    assert _failures("deadline") == before + 1


def test_a_long_review_redelivered_meanwhile_runs_once(stack: Stack) -> None:
    # The review outlasts the visibility timeout: Redis hands its job to another worker thread,
    # which waits for the MR lock and then answers with the finished review's outcome.
    stack.gateway.latency = 3.5
    running = stack.start(visibility_timeout=1.5, lock_ttl=1.0)
    task_id = stack.enqueue()

    outcome = stack.result(task_id)

    assert outcome["status"] == "reviewed"
    client = connect(running.redis_url)
    wait_for(lambda: not client.hlen("unacked") and not client.llen("reviews"), 15, lambda: "an empty queue")
    assert len(stack.runs_of(task_id)) >= 2  # the copy did run, and waited
    assert len(stack.gateway.requests) == 1 and stack.gateway.max_in_flight == 1
    assert thread_titles(stack.gitlab, stack.project_id, stack.iid) == EXPECTED
    assert len(summaries(stack.gitlab, stack.project_id, stack.iid)) == 1
    assert [r.job_id for r in ReviewRecords(client).recent()] == [task_id]  # one record, not two


def test_a_record_the_pages_cannot_get_fails_no_review(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    class Unwritable:
        def add(self, record: ReviewRecord) -> bool:
            raise redis.ConnectionError("the records are unavailable")

    stack.start()
    assert tasks._state is not None
    monkeypatch.setattr(tasks._state, "records", Unwritable())

    outcome = stack.result(stack.enqueue())

    assert outcome["status"] == "reviewed"
    assert thread_titles(stack.gitlab, stack.project_id, stack.iid) == EXPECTED


def test_the_embedded_beat_sweeps_up_a_merge_request_whose_hook_never_came(stack: Stack) -> None:
    stack.start(sweep_interval=1.0, sweep_pause=0.0)
    stack.result(stack.enqueue())  # the project is one the bot reviews
    second = _open_second_mr(stack)  # ... and its webhook is lost

    wait_for(lambda: summaries(stack.gitlab, stack.project_id, second), 30, lambda: "a swept review")
    sweeps = _count(stack, lambda name, kwargs: name == SWEEP_TASK)
    wait_for(lambda: _count(stack, lambda name, _: name == SWEEP_TASK) > sweeps, 15, lambda: "another sweep")

    swept = _count(stack, lambda name, kwargs: name == REVIEW_TASK and kwargs.get("trigger") == "sweep")
    assert swept == 1  # the new MR's head, once; the reviewed MR never
    assert len(stack.gateway.requests) == 2


def _open_second_mr(stack: Stack) -> int:
    repo = GitRepo(stack.home / "app")
    repo.commit({"app/more.py": "def more():\n    return 5  # TODO handle failure\n"}, branch="more")
    return stack.gitlab.open_mr(stack.project_id, "more", title="More")


def _count(stack: Stack, match: Callable[[str, dict[str, Any]], bool]) -> int:
    return sum(1 for name, _, kwargs in list(stack.runs) if match(name, kwargs))
