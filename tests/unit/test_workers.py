"""The queue policy: Celery settings, retry countdowns and budgets, and the broker URL forms."""

from __future__ import annotations

import inspect

import pytest

from reviewer.app.config import Settings
from reviewer.app.events import ReviewJob
from reviewer.errors import TransientError
from workers.celery_app import REVIEW_TASK, SWEEP_TASK, broker_url, celery_config, create_celery
from workers.conversation_tasks import TASK_NAME as CONVERSATION_TASK
from workers.conversation_tasks import handle_conversation_task
from workers.tasks import lock_wait_budget, retry_countdown, review_merge_request_task


def test_long_model_calls_are_safe_on_redis() -> None:
    config = celery_config("redis://localhost:6379/0", Settings())
    assert config["task_acks_late"] and config["task_reject_on_worker_lost"]
    assert config["worker_prefetch_multiplier"] == 1


def test_a_dead_workers_review_is_redelivered_within_the_visibility_timeout() -> None:
    settings = Settings(visibility_timeout=60, lock_ttl=30)
    transport = celery_config("redis://h/0", settings)["broker_transport_options"]
    assert transport["visibility_timeout"] == 60
    # kombu looks for unacknowledged messages this often: not its default of every 100 s.
    assert transport["unacked_restore_interval"] * transport["unacked_restore_throttle"] <= 10


def test_every_retry_countdown_stays_below_the_visibility_timeout() -> None:
    settings = Settings(visibility_timeout=60, lock_ttl=30)
    cap = settings.max_countdown
    assert cap < settings.visibility_timeout
    for retries in range(10):
        assert retry_countdown(TransientError("x"), retries, base=15, cap=cap) <= cap
    assert retry_countdown(TransientError("x", retry_after=5000), 0, base=15, cap=cap) == cap
    # a lock wait lasts at most 0.6 of the lock's TTL, which is below the visibility timeout
    assert 0.6 * settings.lock_ttl < cap


def test_retries_back_off_and_honour_retry_after() -> None:
    first = retry_countdown(TransientError("x"), 0, base=15, cap=45)
    assert 12 <= first <= 18
    assert 24 <= retry_countdown(TransientError("x"), 1, base=15, cap=45) <= 36
    assert retry_countdown(TransientError("x", retry_after=40), 0, base=15, cap=45) >= 40


def test_the_visibility_timeout_must_outlast_the_lock() -> None:
    with pytest.raises(ValueError, match="must exceed REVIEWER_LOCK_TTL"):
        Settings(visibility_timeout=30, lock_ttl=30)


def test_lock_waits_outlast_the_longest_review_a_holder_may_run() -> None:
    settings = Settings(review_deadline=900, lock_ttl=30)
    shortest_wait = 0.3 * settings.lock_ttl
    assert lock_wait_budget(settings) * shortest_wait >= settings.review_deadline + settings.lock_ttl


def test_a_unix_socket_url_is_spelled_the_way_celery_reads_it() -> None:
    assert broker_url("unix:///tmp/r.sock") == "redis+socket:///tmp/r.sock"
    assert broker_url("redis://h:6379/0") == "redis://h:6379/0"


def test_tls_urls_require_a_verified_certificate_unless_they_say_otherwise() -> None:
    config = celery_config("rediss://:pw@redis.example:6380/0", Settings())
    assert config["broker_url"] == "rediss://:pw@redis.example:6380/0?ssl_cert_reqs=required"
    assert config["result_backend"] == config["broker_url"]
    relaxed = celery_config("rediss://redis.example:6380/0?ssl_cert_reqs=none", Settings())
    assert relaxed["broker_url"].endswith("?ssl_cert_reqs=none")


def test_a_sentinel_url_becomes_kombus_form_with_the_master_in_transport_options() -> None:
    config = celery_config("sentinel://:pw@s1:26379,s2:26380/mymaster/2", Settings())
    assert config["broker_url"] == "sentinel://:pw@s1:26379/2;sentinel://:pw@s2:26380/2"
    assert config["broker_transport_options"]["master_name"] == "mymaster"
    assert config["result_backend_transport_options"] == {"master_name": "mymaster"}


def test_the_catch_up_sweep_is_scheduled_unless_turned_off() -> None:
    schedule = celery_config("redis://h/0", Settings(sweep_interval=300))["beat_schedule"]
    assert schedule == {"catch-up": {"task": SWEEP_TASK, "schedule": 300}}
    assert celery_config("redis://h/0", Settings(sweep_interval=0))["beat_schedule"] == {}


def test_the_tasks_are_registered_on_every_app() -> None:
    app = create_celery("redis://localhost:6379/0", Settings())
    assert {REVIEW_TASK, SWEEP_TASK, CONVERSATION_TASK} <= set(app.tasks)


def test_everything_a_job_carries_is_a_parameter_of_the_task() -> None:
    parameters = set(inspect.signature(review_merge_request_task.run).parameters)
    assert set(ReviewJob.__dataclass_fields__) - {"discussion_id"} <= parameters  # a thread: conversations
    assert {"delivery", "enqueued_at", "transient_retries", "lock_waits"} <= parameters
    conversation = set(inspect.signature(handle_conversation_task.run).parameters)
    assert {"project_id", "iid", "trigger", "note_id", "discussion_id", "user_id"} <= conversation
    assert {"delivery", "transient_retries", "lock_waits"} <= conversation
