"""The queue policy: Celery settings and the retry countdown."""

from __future__ import annotations

from reviewer.errors import TransientError
from workers.celery_app import (
    TASK_TIME_LIMIT_SECONDS,
    VISIBILITY_TIMEOUT_SECONDS,
    broker_url,
    celery_config,
    create_celery,
)
from workers.tasks import retry_countdown


def test_long_model_calls_are_safe_on_redis() -> None:
    config = celery_config("redis://localhost:6379/0")
    assert config["task_acks_late"] and config["task_reject_on_worker_lost"]
    assert config["worker_prefetch_multiplier"] == 1
    # Redis redelivers a message after the visibility timeout: it must outlast every task and countdown.
    assert VISIBILITY_TIMEOUT_SECONDS > TASK_TIME_LIMIT_SECONDS + 600
    assert config["broker_transport_options"]["visibility_timeout"] == VISIBILITY_TIMEOUT_SECONDS


def test_a_unix_socket_url_is_spelled_the_way_celery_reads_it() -> None:
    assert broker_url("unix:///tmp/r.sock") == "redis+socket:///tmp/r.sock"
    assert broker_url("redis://h:6379/0") == "redis://h:6379/0"


def test_retries_back_off_honour_retry_after_and_stay_under_ten_minutes() -> None:
    first = retry_countdown(TransientError("x"), 0)
    assert 10 <= first <= 20
    assert retry_countdown(TransientError("x", retry_after=120), 0) >= 120
    assert retry_countdown(TransientError("x"), 10) <= 600
    assert retry_countdown(TransientError("x", retry_after=5000), 0) == 600


def test_the_review_task_is_registered_on_every_app() -> None:
    app = create_celery("redis://localhost:6379/0")
    assert "reviewer.review_merge_request" in app.tasks
