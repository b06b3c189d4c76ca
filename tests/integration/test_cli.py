"""The `reviewer` command as people run it: against the stand-ins, on local diffs, and serve."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from fakes.gateway_server import FakeGateway
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo
from fakes.ports import free_port
from fakes.webhooks import merge_request_hook
from review_stack import open_todo_mr, settings_env, summaries, wait_for

from reviewer.app.cli import main
from reviewer.app.config import SHIPPED_PROMPTS

AWS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[tuple[GitLabStandIn, int, int]]:
    repo = GitRepo.create(tmp_path / "app", files={"app.py": "def f():\n    return 1\n"})
    repo.commit(
        {"app.py": f'def f():\n    key = "{AWS_KEY}"\n    return 2\n'}, branch="feature", message="key"
    )
    with GitLabStandIn() as server:
        pid = server.add_project("group/app", repo)
        yield server, pid, server.open_mr(pid, "feature", title="Use a key")


def _connect(monkeypatch: pytest.MonkeyPatch, server: GitLabStandIn) -> None:
    monkeypatch.setenv("REVIEWER_GITLAB_URL", server.url)
    monkeypatch.setenv("REVIEWER_GITLAB_TOKEN", server.token)


def test_dry_run_prints_the_review_and_posts_nothing(
    standin: tuple[GitLabStandIn, int, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, pid, iid = standin
    _connect(monkeypatch, server)
    assert main(["review", "group/app", str(iid), "--dry-run"]) == 0
    out = capsys.readouterr()
    assert "<!-- ai-review summary -->" in out.out and "critical" in out.out
    assert "Inline comments it would post" in out.out and "line 2" in out.out
    assert AWS_KEY not in out.out + out.err
    assert server.discussions(pid, iid) == [] and server.notes(pid, iid) == []


def test_review_posts_the_findings_and_one_summary(
    standin: tuple[GitLabStandIn, int, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, pid, iid = standin
    _connect(monkeypatch, server)
    assert main(["review", "group/app", str(iid)]) == 0
    assert main(["review", str(pid), str(iid)]) == 0  # by numeric id, a second time
    (inline,) = server.inline_positions(pid, iid)
    assert (inline["new_path"], inline["new_line"], inline.get("old_line")) == ("app.py", 2, None)
    summaries = [n for n in server.notes(pid, iid) if "ai-review summary" in n["body"]]
    assert len(summaries) == 1
    assert "reviewed" in capsys.readouterr().err


def test_review_without_gitlab_says_what_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", "group/app", "1"]) == 2
    assert "REVIEWER_GITLAB_URL" in capsys.readouterr().err


def test_local_diff_in_every_format(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample = corpus / "secrets" / "detect-secrets-sample.diff"
    assert main(["review", "--diff", str(sample), "--format", "json"]) == 0
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert {f["path"] for f in findings} >= {".secrets.baseline", "detect_secrets/core/baseline.py"}

    assert main(["review", "--diff", str(sample), "--format", "sarif", "-o", str(tmp_path / "r.sarif")]) == 0
    sarif = json.loads((tmp_path / "r.sarif").read_text())
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]

    assert main(["review", "--diff", str(sample), "--format", "codequality"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert all({"description", "check_name", "fingerprint", "severity", "location"} <= set(r) for r in report)

    assert main(["review", "--diff", str(sample), "--fail-on", "critical"]) == 1


def test_local_diff_from_stdin_keeps_a_lone_carriage_return_inside_a_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    diff = "--- a/x.txt\n+++ b/x.txt\n@@ -1 +1,2 @@\n-old\n+new\rstill line one\n+line two\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(diff.encode())))
    assert main(["review", "--diff", "-", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["findings"] == []


def test_git_range_of_a_local_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = GitRepo.create(tmp_path / "local", files={"a.py": "x = 1\n"})
    repo.commit({"a.py": f'x = 1\nTOKEN = "{AWS_KEY}"\n'}, message="add")
    os.chdir(repo.path)
    assert main(["review", "--git", "HEAD~1..HEAD"]) == 0
    out = capsys.readouterr().out
    assert "a.py" in out and "line 2" in out and AWS_KEY not in out
    assert main(["review", "--git", "no-such-ref..HEAD"]) == 2


def test_doctor_checks_every_connection(
    standin: tuple[GitLabStandIn, int, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["doctor"]) == 1
    assert re.search(r"FAIL gitlab: set REVIEWER_GITLAB_URL", capsys.readouterr().out)

    server, _, _ = standin
    _connect(monkeypatch, server)
    monkeypatch.setenv("REVIEWER_WEBHOOK_SECRET", "s")
    with FakeGateway() as gateway:
        monkeypatch.setenv("REVIEWER_LLM_BASE_URL", gateway.base_url)
        monkeypatch.setenv("REVIEWER_LLM_API_KEY", "k")
        assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "ok   gitlab" in out and "ok   model gateway" in out and "FAIL" not in out


def test_doctor_names_settings_a_review_would_not_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "prompts"
    shutil.copytree(SHIPPED_PROMPTS, prompts)
    (prompts / "teams" / "payments.yaml").write_text("approve: sometimes\nmax_comments: 3\n")
    monkeypatch.setenv("REVIEWER_PROMPTS_DIR", str(prompts))
    config = tmp_path / ".ai-review.yaml"
    config.write_text("colour: blue\nreview_drafts: true\n")
    main(["doctor", "--repo-config", str(config)])
    lines = capsys.readouterr().out.splitlines()
    (team,) = [ln for ln in lines if " team settings: " in ln]
    assert team.startswith("WARN") and "payments.yaml: approve: 'sometimes' is not true or false" in team
    (repo,) = [ln for ln in lines if " repository settings " in ln]
    assert repo.startswith("WARN") and ".ai-review.yaml: colour: unknown key, ignored" in repo

    config.write_text("review_drafts: true\n")
    main(["doctor", "--repo-config", str(config)])
    (repo,) = [ln for ln in capsys.readouterr().out.splitlines() if " repository settings " in ln]
    assert repo == "ok   repository settings (.ai-review.yaml): applies in full (review_drafts)"


@pytest.mark.parametrize(
    ("admin", "scopes", "label", "said"),
    [
        (True, ("api",), "WARN", "administrator's"),
        (False, ("api", "read_repository", "sudo"), "WARN", "does not need: read_repository, sudo"),
        (False, ("read_api",), "FAIL", "lacks the api scope"),
    ],
)
def test_doctor_holds_the_token_to_least_privilege(
    admin: bool,
    scopes: tuple[str, ...],
    label: str,
    said: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with GitLabStandIn(bot_admin=admin, token_scopes=scopes) as server:
        _connect(monkeypatch, server)
        main(["doctor"])
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if " gitlab: " in ln]
    assert line.startswith(label) and said in line


def test_serve_starts_on_nothing_but_defaults(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REVIEWER_", "OPENAI_"))}
    port = free_port()
    # The command line's --host is what the intake binds, and what decides whether the pages are on.
    env.update(HOME=str(tmp_path), REVIEWER_PORT=str(port), REVIEWER_HOST="0.0.0.0")
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "workers.main", "serve", "--host", "127.0.0.1"],
        env=env,
        cwd=tmp_path,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)  # polling a condition with a deadline
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["status"] == "ok"
        forged = httpx.post(f"http://127.0.0.1:{port}/webhooks/gitlab", json={"object_kind": "merge_request"})
        assert forged.status_code == 401
        pages = httpx.get(f"http://127.0.0.1:{port}/ui/")  # on loopback without a token: open
        assert pages.status_code == 200 and "No review recorded yet" in pages.text
        (redis_server,) = [p for p in psutil.Process(process.pid).children() if "redis-server" in p.name()]
    finally:
        process.terminate()  # SIGTERM
        process.wait(timeout=30)
    assert process.returncode == 128 + 15  # stopped through its `finally`, which stops the server
    assert not redis_server.is_running() or redis_server.status() == psutil.STATUS_ZOMBIE
    text = log.read_text()
    assert "REVIEWER_GITLAB_URL" in text and "embedded" in text
    assert f"Pages: http://127.0.0.1:{port}/ui/ (this machine only)" in text
    assert "Traceback" not in text


def test_serve_takes_deliveries_while_a_model_setting_is_invalid_and_each_review_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with GitLabStandIn() as gitlab, FakeGateway() as gateway:
        project_id, iid = open_todo_mr(gitlab, tmp_path / "app")
        env = settings_env(gitlab, gateway, tmp_path, REVIEWER_LLM_TIMEOUT="soon")
        port = free_port()
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
            wait_for(lambda: _answers(intake), 60, lambda: "the intake", process, log)
            headers, payload = merge_request_hook(gitlab, project_id, iid, "open")
            assert httpx.post(f"{intake}/webhooks/gitlab", json=payload, headers=headers).status_code == 202
            wait_for(lambda: summaries(gitlab, project_id, iid), 60, lambda: "a summary note", process, log)
        finally:
            process.terminate()
            process.wait(timeout=30)
    (summary,) = summaries(gitlab, project_id, iid)
    assert "could not be completed" in summary and "REVIEWER_LLM_TIMEOUT" in summary
    assert "reviews will fail until this is fixed" in log.read_text()
    assert gateway.requests == []

    monkeypatch.setenv("REVIEWER_LLM_TIMEOUT", "soon")
    assert main(["doctor"]) == 2
    assert "REVIEWER_LLM_TIMEOUT" in capsys.readouterr().err


def _answers(intake: str) -> bool:
    try:
        return httpx.get(f"{intake}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
