"""What the failure tests share: a merge request whose review opens four threads, a model that finds
them, settings with short timings, and `reviewer worker` processes with their logs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fakes.gateway_server import FakeGateway
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo

FINDINGS = 4
TODO_FILE = "".join(f"def step_{n}():\n    return {n}  # TODO handle failure\n\n\n" for n in range(FINDINGS))

# Short timings, so that crash recovery and retries happen within seconds (production: minutes).
FAST = {
    "visibility_timeout": 3.0,
    "lock_ttl": 1.5,
    "retry_backoff": 0.3,
    "llm_backoff": 0.1,
    "max_retries": 3,
    "review_deadline": 60.0,
    "sweep_interval": 0.0,
}


def todo_model(request: dict[str, Any]) -> str:
    """A model that flags every added line with a TODO, citing the line it was shown."""
    path, findings = "", []
    for line in request["messages"][-1]["content"].splitlines():
        if line.startswith("## "):
            path = line[3:].split(" (")[0]
        match = re.match(r"^\s*(\d+) \+ ?(.*)$", line)
        if match and "TODO" in match.group(2):
            findings.append(
                {
                    "path": path,
                    "line": int(match.group(1)),
                    "side": "new",
                    "severity": "medium",
                    "category": "style",
                    "title": f"Unfinished error handling on line {match.group(1)}",
                    "body": "Handle the failure or say why not.",
                    "confidence": 0.9,
                }
            )
    return json.dumps({"findings": findings})


def open_todo_mr(gitlab: GitLabStandIn, path: Path, name: str = "group/app") -> tuple[int, int]:
    repo = GitRepo.create(path, files={"README.md": "# app\n"})
    repo.commit({"app/steps.py": TODO_FILE}, branch="feature", message="Add steps")
    project_id = gitlab.add_project(name, repo)
    return project_id, gitlab.open_mr(project_id, "feature", title="Add steps")


def settings_env(gitlab: GitLabStandIn, gateway: FakeGateway, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REVIEWER_", "OPENAI_"))}
    env.update(
        HOME=str(home),
        REVIEWER_GITLAB_URL=gitlab.url,
        REVIEWER_GITLAB_TOKEN=gitlab.token,
        REVIEWER_LLM_BASE_URL=gateway.base_url,
        REVIEWER_LLM_API_KEY="gateway-key",
        REVIEWER_LLM_MODEL="m",
        REVIEWER_WEBHOOK_SECRET="webhook-secret",
        REVIEWER_LOG_LEVEL="INFO",
        **{f"REVIEWER_{key.upper()}": str(value) for key, value in FAST.items()},
    )
    return {**env, **extra}


def start_worker(env: dict[str, str], log: Path, name: str) -> subprocess.Popen[bytes]:
    """A `reviewer worker` process, returned once it consumes."""
    return start_workers(env, {name: log})[0]


def start_workers(env: dict[str, str], logs: dict[str, Path]) -> list[subprocess.Popen[bytes]]:
    """`reviewer worker` processes (node name -> log), started together, returned once they consume."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "workers.main", "worker", "--concurrency", "2", "--name", name],
            env=env,
            cwd=log.parent,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        for name, log in logs.items()
    ]
    for process, (name, log) in zip(processes, logs.items(), strict=True):
        ready = lambda log=log: " ready." in log.read_text(errors="replace")  # noqa: E731
        wait_for(ready, 60, lambda name=name: f"{name} ready", process, log)  # type: ignore[misc]
    return processes


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def wait_for(
    condition: Callable[[], Any],
    timeout: float,
    what: Callable[[], str],
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> Any:
    """Poll ``condition`` until it holds; fail with ``what()`` and the log after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None and log is not None:
            pytest.fail(f"the process exited while waiting for {what()}:\n{log.read_text(errors='replace')}")
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-4000:] if log is not None else ""
            pytest.fail(f"no {what()} within {timeout} s\n{tail}")
        time.sleep(0.05)  # polling a condition with a deadline


def bot_threads(gitlab: GitLabStandIn, project_id: int, iid: int) -> list[dict[str, Any]]:
    """The bot's threads: its discussions but the one holding the summary note (which lists findings too)."""
    bot = gitlab.bot.id
    return [
        d
        for d in gitlab.discussions(project_id, iid)
        if d["notes"][0]["author"]["id"] == bot and "<!-- ai-review summary -->" not in d["notes"][0]["body"]
    ]


def thread_titles(gitlab: GitLabStandIn, project_id: int, iid: int) -> list[str]:
    titles = []
    for discussion in bot_threads(gitlab, project_id, iid):
        titles += re.findall(r"Unfinished error handling on line \d+", discussion["notes"][0]["body"])
    return sorted(titles)


def summaries(gitlab: GitLabStandIn, project_id: int, iid: int) -> list[str]:
    return [n["body"] for n in gitlab.notes(project_id, iid) if "<!-- ai-review summary -->" in n["body"]]
