"""Webhook in, inline discussions and one summary note out, with every part real.

A real Redis server (the embedded one), `reviewer serve` and `reviewer worker` as separate
processes, the GitLab stand-in (real git repositories, strict positions) and the gateway stand-in,
both over HTTP on loopback. The test waits on the Celery task's result, never on a clock.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery import exceptions as celery_exceptions
from fakes.gateway_server import FakeGateway, Reply, error
from fakes.gitlab_people import DEVELOPER
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo
from fakes.ports import free_port
from fakes.webhooks import merge_request_hook, note_hook

from reviewer.app.config import Settings
from reviewer.app.embedded_redis import EmbeddedRedis
from workers.celery_app import create_celery

SECRET = "webhook-secret"
AWS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

BASE_DB = """import sqlite3


def find_user(conn, name):
    cursor = conn.cursor()
    cursor.execute("SELECT * FROM users WHERE name = ?", (name,))
    return cursor.fetchone()


def count_users(conn):
    return conn.execute("SELECT COUNT(*) FROM users").fetchone()[0]
"""
FEATURE_DB = BASE_DB.replace(
    'cursor.execute("SELECT * FROM users WHERE name = ?", (name,))',
    "cursor.execute(f\"SELECT * FROM users WHERE name = '{name}'\")",
)
CONFIG = f'REGION = "eu-west-1"\nAWS_SECRET_ACCESS_KEY = "{AWS_KEY}"\n'


def _rendered_lines(user_message: str) -> list[tuple[str, int, str, str]]:
    """(path, number, mark, code) of every line of the numbered diff the model receives."""
    out, path = [], ""
    for line in user_message.splitlines():
        if line.startswith("## "):
            path = line[3:].split(" (")[0]
            continue
        match = re.match(r"^\s*(\d+) ([+\- ]) ?(.*)$", line)
        if match:
            out.append((path, int(match.group(1)), match.group(2), match.group(3)))
    return out


def _finding(
    path: str, line: int, side: str, title: str, severity: str = "high", category: str = "style"
) -> dict[str, Any]:
    return {
        "path": path,
        "line": line,
        "side": side,
        "end_line": None,
        "severity": severity,
        "category": category,
        "title": title,
        "body": "Explain and fix.",
        "suggestion": None,
        "confidence": 0.9,
    }


def reviewer_model(request: dict[str, Any]) -> str:
    """A model that cites exactly the lines it was shown, as a good one does, and on its second
    look keeps every finding."""
    system, user = request["messages"][0]["content"], request["messages"][-1]["content"]
    if user.startswith("<findings>"):
        numbers = [int(n) for n in re.findall(r"^\[(\d+)\] ", user, re.M)]
        return json.dumps(
            {"verdicts": [{"id": n, "keep": True, "reason": "The code shows it."} for n in numbers]}
        )
    lines = _rendered_lines(user)
    findings = []
    if "Flag injection" in system:  # the security rules are in this call
        for path, number, mark, code in lines:
            if mark == "+" and 'execute(f"' in code:
                findings.append(
                    _finding(path, number, "new", "SQL built from user input", category="security")
                )
    if "Flag bugs" in system:  # the style rules are in this call
        for path, number, mark, code in lines:
            if mark == "-" and "execute(" in code:
                findings.append(_finding(path, number, "old", "Parameterised query removed", "medium"))
            if mark == " " and "fetchone()" in code and "COUNT" not in code:
                findings.append(_finding(path, number, "new", "fetchone may return None", "medium"))
        findings.append(_finding("app/elsewhere.py", 3, "new", "Unrelated file mentioned", "low"))
    return json.dumps({"findings": findings})


@dataclass
class Stack:
    gitlab: GitLabStandIn
    gateway: FakeGateway
    repo: GitRepo
    project_id: int
    iid: int
    intake: str
    celery: Any
    worker: subprocess.Popen[bytes]
    worker_log: Path

    def deliver(self, headers: dict[str, str], payload: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.intake}/webhooks/gitlab", json=payload, headers=headers, timeout=10)

    def result(self, response: httpx.Response) -> dict[str, Any]:
        assert response.status_code == 202, response.text
        task = self.celery.AsyncResult(response.json()["task_id"])
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.worker.poll() is not None:
                pytest.fail(f"the worker exited:\n{self.worker_log.read_text()}")
            try:
                return dict(task.get(timeout=2))
            except celery_exceptions.TimeoutError:
                continue
        pytest.fail(f"no result within 90 s; worker log:\n{self.worker_log.read_text()}")


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the intake exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)  # polling a condition with a deadline, not a timed wait
    pytest.fail(f"the intake did not answer /healthz:\n{log.read_text()}")


def _environment(tmp_path: Path, gitlab: GitLabStandIn, gateway: FakeGateway, **extra: str) -> dict[str, str]:
    """A process environment connected to the stand-ins, with nothing of the developer's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REVIEWER_", "OPENAI_"))}
    env.update(
        HOME=str(tmp_path),
        REVIEWER_GITLAB_URL=gitlab.url,
        REVIEWER_GITLAB_TOKEN=gitlab.token,
        REVIEWER_WEBHOOK_SECRET=SECRET,
        REVIEWER_LLM_BASE_URL=gateway.base_url,
        REVIEWER_LLM_API_KEY="gateway-key",
        REVIEWER_LOG_LEVEL="INFO",
    )
    return {**env, **extra}


@contextmanager
def _running_bot(
    tmp_path: Path, gitlab: GitLabStandIn, gateway: FakeGateway, secrets: Sequence[str] = ()
) -> Iterator[tuple[str, Any, subprocess.Popen[bytes], Path]]:
    """`reviewer serve` and `reviewer worker` on a real Redis, connected to the stand-ins: (intake
    URL, Celery app, worker process, worker log). On the way out, no log may hold the gateway key,
    the GitLab token, the webhook secrets or any of ``secrets``."""
    redis_server = EmbeddedRedis(tmp_path / "redis")
    port = free_port()
    env = _environment(tmp_path, gitlab, gateway, REVIEWER_WEBHOOK_SECRET=f"old-secret,{SECRET}")
    env.update(REVIEWER_REDIS_URL=redis_server.url, REVIEWER_LLM_MODEL="openai/gpt-4o-mini")
    logs = {name: tmp_path / f"{name}.log" for name in ("serve", "worker")}
    commands = {
        "serve": [sys.executable, "-m", "workers.main", "serve", "--no-demo", "--port", str(port)],
        "worker": [sys.executable, "-m", "workers.main", "worker", "--concurrency", "2"],
    }
    processes = {
        name: subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=logs[name].open("wb"), stderr=subprocess.STDOUT
        )
        for name, command in commands.items()
    }
    celery = create_celery(redis_server.url, Settings())
    try:
        intake = f"http://127.0.0.1:{port}"
        _wait_healthy(intake, processes["serve"], logs["serve"])
        yield intake, celery, processes["worker"], logs["worker"]
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        redis_server.close()
        for name, log in logs.items():
            text = log.read_text(errors="replace")
            for secret in ("gateway-key", gitlab.token, SECRET, "old-secret", *secrets):
                assert secret not in text, f"a secret reached the {name} log"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    repo = GitRepo.create(tmp_path / "app", files={"app/db.py": BASE_DB, "README.md": "# app\n"})
    repo.commit({"app/db.py": FEATURE_DB, "app/config.py": CONFIG}, branch="feature", message="Add lookup")
    with GitLabStandIn() as gitlab, FakeGateway(responder=reviewer_model) as gateway:
        project_id = gitlab.add_project("group/app", repo)
        iid = gitlab.open_mr(project_id, "feature", title="Look users up by name")
        with _running_bot(tmp_path, gitlab, gateway, secrets=(AWS_KEY,)) as (intake, celery, worker, log):
            yield Stack(gitlab, gateway, repo, project_id, iid, intake, celery, worker, log)


def _positions(stack: Stack) -> dict[str, dict[str, Any]]:
    out = {}
    for discussion in stack.gitlab.discussions(stack.project_id, stack.iid):
        note = discussion["notes"][0]
        if note.get("position"):
            title = re.search(r"\*\*: (.*)", note["body"])
            assert title is not None
            out[title.group(1).strip()] = note["position"]
    return out


def _bot_threads(stack: Stack) -> list[dict[str, Any]]:
    bot = stack.gitlab.bot.id
    return [
        d
        for d in stack.gitlab.discussions(stack.project_id, stack.iid)
        if d["notes"][0]["author"]["id"] == bot
    ]


def _summaries(stack: Stack) -> list[dict[str, Any]]:
    return [
        n
        for n in stack.gitlab.notes(stack.project_id, stack.iid)
        if "<!-- ai-review summary -->" in n["body"]
    ]


def test_opened_merge_request_gets_inline_comments_on_the_right_lines_and_one_summary(stack: Stack) -> None:
    headers, payload = merge_request_hook(stack.gitlab, stack.project_id, stack.iid, "open", secret=SECRET)
    outcome = stack.result(stack.deliver(headers, payload))
    assert outcome["status"] == "reviewed"

    positions = _positions(stack)
    sql = positions["SQL built from user input"]
    assert (sql["new_path"], sql["new_line"], sql.get("old_line")) == ("app/db.py", 6, None)
    removed = positions["Parameterised query removed"]
    assert (removed["old_line"], removed.get("new_line")) == (6, None)
    context = positions["fetchone may return None"]
    assert (context["old_line"], context["new_line"]) == (7, 7)
    secret = next(p for title, p in positions.items() if "AWS" in title or "secret" in title.lower())
    assert (secret["new_path"], secret["new_line"], secret.get("old_line")) == ("app/config.py", 2, None)
    version = stack.gitlab.versions(stack.project_id, stack.iid)[0]
    assert {p["head_sha"] for p in positions.values()} == {version["head_commit_sha"]}

    (summary,) = _summaries(stack)
    assert "app/elsewhere.py" not in summary["body"]  # the model's path is never echoed ...
    assert "1 finding dropped: not about a file of this MR." in summary["body"]  # ... only counted
    assert outcome["off_diff"] == 1
    assert stack.gitlab.executed_quick_actions == []

    prompts = [r for r in stack.gateway.requests if r.path.endswith("/chat/completions")]
    reviews = [r for r in prompts if "<diff>" in r.messages[-1]["content"]]
    assert len(reviews) == 1  # a small change: one call carries both aspects
    (second_look,) = [r for r in prompts if r not in reviews]  # and one checks all findings
    assert "SQL built from user input" in second_look.messages[-1]["content"]
    assert "No findings dropped" not in summary["body"] and "second look" not in summary["body"]
    for request in prompts:
        assert AWS_KEY not in str(request.body)
        assert request.header("authorization") == "Bearer gateway-key"
        assert request.metadata is not None and request.metadata["mr"] == stack.iid

    again = stack.deliver(headers, payload)  # GitLab retrying the same delivery
    assert again.status_code == 200 and again.json()["status"] == "duplicate"


def test_review_command_reruns_without_posting_anything_twice(stack: Stack) -> None:
    headers, payload = merge_request_hook(stack.gitlab, stack.project_id, stack.iid, "open", secret=SECRET)
    first = stack.result(stack.deliver(headers, payload))
    threads = len(_bot_threads(stack))

    developer = stack.gitlab.add_user("dev")["id"]
    stack.gitlab.add_member(stack.project_id, developer, DEVELOPER)
    hook = note_hook(stack.gitlab, stack.project_id, stack.iid, "/ai-review", developer, secret=SECRET)
    answered = stack.result(stack.deliver(*hook))  # the conversation task, which ran the review

    second = answered["review"]
    assert answered["status"] == "review" and second["status"] == "reviewed"
    assert second["inline"] == 0 and second["already_posted"] == first["inline"]
    assert len(_bot_threads(stack)) == threads
    assert len(_summaries(stack)) == 1


def test_a_push_is_reviewed_incrementally_against_the_latest_version(stack: Stack) -> None:
    headers, payload = merge_request_hook(stack.gitlab, stack.project_id, stack.iid, "open", secret=SECRET)
    stack.result(stack.deliver(headers, payload))
    old_head = stack.gitlab.versions(stack.project_id, stack.iid)[0]["head_commit_sha"]
    calls_before = len(stack.gateway.requests)

    stack.repo.commit(
        {"app/util.py": "def shout(s):\n    return s.upper()\n"}, branch="feature", message="util"
    )
    stack.gitlab.push(stack.project_id, "feature")
    headers, payload = merge_request_hook(
        stack.gitlab, stack.project_id, stack.iid, "update", oldrev=old_head, secret=SECRET
    )
    outcome = stack.result(stack.deliver(headers, payload))

    new_head = stack.gitlab.versions(stack.project_id, stack.iid)[0]["head_commit_sha"]
    assert outcome["status"] == "reviewed" and outcome["head_sha"] == new_head != old_head
    (follow_up,) = stack.gateway.requests[calls_before:]
    diff_sent = follow_up.messages[-1]["content"]
    assert "## app/util.py" in diff_sent and "app/db.py" not in diff_sent  # only what the push changed
    assert stack.gitlab.position_rejections == []
    (summary,) = _summaries(stack)
    assert f"changes since `{old_head[:12]}`" in summary["body"]

    redelivered = stack.deliver(
        *merge_request_hook(
            stack.gitlab, stack.project_id, stack.iid, "update", oldrev=old_head, secret=SECRET
        )
    )
    assert stack.result(redelivered)["status"] == "skipped"  # that head was reviewed already


def test_a_forged_delivery_is_refused_and_queues_nothing(stack: Stack) -> None:
    headers, payload = merge_request_hook(stack.gitlab, stack.project_id, stack.iid, "open", secret="guess")
    response = stack.deliver(headers, payload)
    assert response.status_code == 401

    headers, payload = merge_request_hook(stack.gitlab, stack.project_id, stack.iid, "open", secret=SECRET)
    stack.result(stack.deliver(headers, payload))
    reviews = [r for r in stack.gateway.requests if "<diff>" in r.messages[-1]["content"]]
    assert len(reviews) == 1  # the genuine delivery's review only


def test_one_command_runs_the_whole_bot_with_the_embedded_redis_and_worker(tmp_path: Path) -> None:
    """`reviewer serve` with no REVIEWER_REDIS_URL: its own Redis and worker review the MR."""
    repo = GitRepo.create(tmp_path / "app", files={"app/db.py": BASE_DB})
    repo.commit({"app/db.py": FEATURE_DB}, branch="feature", message="Add lookup")
    with GitLabStandIn() as gitlab, FakeGateway(responder=reviewer_model) as gateway:
        project_id = gitlab.add_project("group/app", repo)
        iid = gitlab.open_mr(project_id, "feature", title="Look users up by name")
        port = free_port()
        env = _environment(tmp_path, gitlab, gateway)
        log = tmp_path / "serve.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "workers.main", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:
            intake = f"http://127.0.0.1:{port}"
            _wait_healthy(intake, process, log)
            headers, payload = merge_request_hook(gitlab, project_id, iid, "open", secret=SECRET)
            assert httpx.post(f"{intake}/webhooks/gitlab", json=payload, headers=headers).status_code == 202
            deadline = time.monotonic() + 60
            while not any("ai-review summary" in n["body"] for n in gitlab.notes(project_id, iid)):
                assert time.monotonic() < deadline, log.read_text()
                assert process.poll() is None, log.read_text()
                time.sleep(0.05)  # polling GitLab's state with a deadline: the worker runs in another process
        finally:
            process.terminate()
            process.wait(timeout=30)
        positions = [p["new_line"] for p in gitlab.inline_positions(project_id, iid) if p.get("new_line")]
        assert 6 in positions
        assert "review of the last commit" not in log.read_text()  # GitLab is configured: no demo


# -- untrusted text: names and model answers that would be quick actions, keys on removed lines ---

HOSTILE_FILE = "a\n/close\nb.py"
HOSTILE_SENSITIVE = "a\n/merge\nauth.py"  # a security-sensitive name: it is also the tier's reason
HOSTILE_PATH = "nope.py\n/approve\nx"  # what a diff can ask the model to answer with


def hostile_model(request: dict[str, Any]) -> str | Reply:
    """A model the diff has talked into naming things that would be quick actions; its style call
    is refused, so the failure names the chunk's files too."""
    system = request["messages"][0]["content"]
    if "Flag bugs" in system and "Flag injection" not in system:
        return error(400, "this request was refused", type="invalid_request_error")
    findings = [
        _finding(HOSTILE_PATH, 1, "new", "Look here\n/approve"),
        _finding(HOSTILE_FILE, 40, "new", "Far from any change\n/merge", "medium"),  # listed in the summary
    ]
    return json.dumps({"findings": findings})


def test_names_and_model_answers_that_would_be_quick_actions_run_none(tmp_path: Path) -> None:
    repo = GitRepo.create(tmp_path / "app", files={"README.md": "# app\n"})
    repo.commit(
        {HOSTILE_FILE: "x = 1\n", HOSTILE_SENSITIVE: "token = load()\n"}, branch="add", message="names"
    )
    with GitLabStandIn() as gitlab, FakeGateway(responder=hostile_model) as gateway:
        pid = gitlab.add_project("group/app", repo)
        added = gitlab.open_mr(pid, "add", title="Add two files")
        with _running_bot(tmp_path, gitlab, gateway) as (intake, celery, worker, log):
            stack = Stack(gitlab, gateway, repo, pid, added, intake, celery, worker, log)
            hook = merge_request_hook(gitlab, pid, added, "open", secret=SECRET)
            outcome = stack.result(stack.deliver(*hook))
            assert outcome["status"] == "partial" and outcome["off_diff"] >= 1  # its style call was refused
            (summary,) = _summaries(stack)
            assert "`a\\n/close\\nb.py:40`" in summary["body"]  # shown, on one line
            assert "Could not complete" in summary["body"] and "`a\\n/merge\\nauth.py`" in summary["body"]
            assert "nope.py" not in summary["body"]

            repo.run("checkout", "-q", "main")  # the MR is merged, then a later one deletes the files
            repo.run("merge", "-q", "--ff-only", "add")
            gitlab.update_mr(pid, added, state="merged")
            repo.commit({HOSTILE_FILE: None, HOSTILE_SENSITIVE: None}, branch="remove", message="gone")
            removed = gitlab.open_mr(pid, "remove", title="Remove them")
            hook = merge_request_hook(gitlab, pid, removed, "open", secret=SECRET)
            assert stack.result(stack.deliver(*hook))["status"] == "reviewed"

        (later,) = [n for n in gitlab.notes(pid, removed) if "<!-- ai-review summary -->" in n["body"]]
        assert "- `a\\n/close\\nb.py`: deleted" in later["body"]
        assert gitlab.mr(pid, removed)["state"] == "opened" and gitlab.approvals(pid, removed) == []
        assert gitlab.executed_quick_actions == []
        assert gitlab.bot_note_problems() == []


def test_a_key_on_a_removed_line_reaches_no_gateway_request_note_or_log(tmp_path: Path) -> None:
    key_id = "AKIA" + "IOSFODNN7" + "EXAMPLE"  # assembled, so no scanner flags this file
    token = "ghp_" + "x7Kp2QmZ9vR4tL8wN3bY6cH1dF5gJ0sA" + "e2Wq"
    before = (
        f'AWS_ACCESS_KEY_ID = "{key_id}"\nGITHUB_TOKEN = "{token}"\nAWS_SECRET_ACCESS_KEY = "{AWS_KEY}"\n'
    )
    after = (
        'AWS_ACCESS_KEY_ID = os.environ["AWS_ACCESS_KEY_ID"]\n'
        f'GITHUB_TOKEN = "{token}"\n'  # unchanged: context around the change
        'AWS_SECRET_ACCESS_KEY = os.environ["AWS_SECRET_ACCESS_KEY"]\n'
    )
    repo = GitRepo.create(tmp_path / "app", files={"app/settings.py": before})
    repo.commit({"app/settings.py": after}, branch="rotate", message="Read keys from the environment")
    with GitLabStandIn() as gitlab, FakeGateway() as gateway:
        pid = gitlab.add_project("group/app", repo)
        iid = gitlab.open_mr(pid, "rotate", title=f"Stop committing {key_id}")
        with _running_bot(tmp_path, gitlab, gateway, secrets=(key_id, token, AWS_KEY)) as running:
            stack = Stack(gitlab, gateway, repo, pid, iid, *running)
            hook = merge_request_hook(gitlab, pid, iid, "open", secret=SECRET)
            outcome = stack.result(stack.deliver(*hook))
        assert outcome["status"] == "reviewed"
        prompts = [r for r in gateway.requests if r.path.endswith("/chat/completions")]
        assert prompts and "[REDACTED]" in prompts[0].messages[-1]["content"]  # masked, still reviewed
        sent = json.dumps([r.body for r in gateway.requests])
        notes = json.dumps([n["body"] for n in gitlab.notes(pid, iid)])
        for secret in (key_id, token, AWS_KEY):
            assert secret not in sent and secret not in notes
