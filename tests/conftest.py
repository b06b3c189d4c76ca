"""Shared fixtures. Every test starts with no REVIEWER_* or OPENAI_* variable and no .env in its way."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from reviewer.app import metrics, redaction

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"

# Every process this run starts inherits this mark (redis-server overwrites its environment, so it
# is known by its working directory: the state directory, under this run's temporary folder).
RUN_MARK = "GITLAB_AI_REVIEWER_TEST_RUN"
os.environ[RUN_MARK] = uuid.uuid4().hex
SUITE_PROCESSES = ("redis-server", "celery", "reviewer", "workers.main", "chromedriver", "chromium")


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the last test: no redis-server, worker or `reviewer` process of this run is alive."""
    yield
    basetemp = str(tmp_path_factory.getbasetemp())
    deadline = time.monotonic() + 15  # a terminated process may still be on its way out
    while (left := _processes_of_this_run(basetemp)) and time.monotonic() < deadline:
        time.sleep(0.1)  # polling the process table with a deadline
    for process in left:
        process.kill()
    assert not left, "processes started by the tests outlived them: " + "; ".join(
        f"{p.pid} {' '.join(p.info['cmdline'] or [])}" for p in left
    )


def _processes_of_this_run(basetemp: str) -> list[psutil.Process]:
    mine = os.environ[RUN_MARK]
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "status"]):
        command = " ".join(process.info["cmdline"] or [])
        if process.pid == os.getpid() or process.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if not any(name in command for name in SUITE_PROCESSES):
            continue
        try:
            ours = process.environ().get(RUN_MARK) == mine or process.cwd().startswith(basetemp)
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            continue
        if ours:
            found.append(process)
    return found


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("REVIEWER_", "OPENAI_")) or name == metrics.MULTIPROC_VARIABLE:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no developer's .env is read
    yield
    redaction.install(())  # a test that ran the CLI in this process leaves its secrets behind
    metrics.configure_multiprocess(None)  # nor its runtime's metrics directory


@pytest.fixture
def real_hooks(corpus: Path) -> list[tuple[str, str, bytes]]:
    """(name, X-Gitlab-Event, body) of every real webhook payload of the corpus, with the event
    header GitLab sends for it (system hooks for merge requests come as "System Hook")."""
    hooks = []
    for path in sorted((corpus / "webhooks").rglob("*.json")):
        payload = json.loads(path.read_text())
        if "system" in path.name:
            event = "System Hook"
        elif payload.get("object_kind") == "merge_request":
            event = "Merge Request Hook"
        elif payload.get("event_type") == "confidential_note":
            event = "Confidential Note Hook"
        else:
            event = "Note Hook"
        hooks.append((f"{path.parent.name}/{path.name}", event, path.read_bytes()))
    return hooks


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not beside the checkout ({CORPUS})")
    return CORPUS
