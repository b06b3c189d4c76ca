"""No token, key or webhook secret reaches a log line, an error message or a note, on the paths
where one most easily would: GitLab answering 401, the gateway answering 401 or 500 with the key
echoed in its error body, invalid settings, a webhook with the wrong secret.

Logs are captured in process (every logger at DEBUG, and without the redacting log filter the
CLI installs, so the sources themselves are tested) and from `reviewer` subprocesses (with it)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.gateway_server import FakeGateway, Reply, error
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo
from starlette.testclient import TestClient

from reviewer.app import redaction
from reviewer.app.config import Settings
from reviewer.app.services import build_engine, build_gitlab
from reviewer.app.web import create_app
from reviewer.errors import ReviewerError
from reviewer.gitlab.client import GitLabClient
from reviewer.pipeline import ReviewRequest, review_merge_request

GITLAB_TOKEN = "glpat-Zq8xV3mN7pL2rT5wY9kB"
GATEWAY_KEY = "sk-live-4f9Qa7Zt2Lm8Xc3Vb6Nd"
AIG_TOKEN = "cfaig-9Hs2Kd7Lq4Wm1Xe6Rt3"
WEBHOOK_SECRET = "whsec-7Tq2Lp9Zx4Vm1Nb8Kc5"
BACKSTAGE_TOKEN = "bst-3Jf8Wq1Lz6Xp9Mv2Rk7"
SECRETS = (GITLAB_TOKEN, GATEWAY_KEY, AIG_TOKEN, WEBHOOK_SECRET, BACKSTAGE_TOKEN)


@pytest.fixture
def mr(tmp_path: Path) -> Iterator[tuple[GitLabStandIn, int, int]]:
    repo = GitRepo.create(tmp_path / "app", files={"app.py": "def f():\n    return 1\n"})
    repo.commit({"app.py": "def f():\n    return eval(input())\n"}, branch="feature", message="eval")
    with GitLabStandIn(token=GITLAB_TOKEN) as gitlab:
        pid = gitlab.add_project("group/app", repo)
        yield gitlab, pid, gitlab.open_mr(pid, "feature", title="Evaluate input")


def _leaks(*texts: str) -> list[str]:
    return [secret for secret in SECRETS if any(secret in text for text in texts)]


def _bodies(gitlab: GitLabStandIn, pid: int, iid: int) -> str:
    return json.dumps([gitlab.notes(pid, iid), gitlab.discussions(pid, iid)])


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        (error(401, f"Incorrect API key provided: {GATEWAY_KEY}", type="invalid_request_error"), "refused"),
        (error(500, f"upstream refused Bearer {AIG_TOKEN} with key {GATEWAY_KEY}"), "500"),
    ],
)
def test_a_gateway_echoing_the_key_puts_it_in_no_log_error_or_note(
    reply: Reply, said: str, mr: tuple[GitLabStandIn, int, int], caplog: pytest.LogCaptureFixture
) -> None:
    gitlab, pid, iid = mr
    caplog.set_level(logging.DEBUG)
    with FakeGateway(default=reply) as gateway:
        settings = Settings(
            gitlab_url=gitlab.url,
            gitlab_token=GITLAB_TOKEN,
            webhook_secret=WEBHOOK_SECRET,
            llm_base_url=gateway.base_url,
            llm_api_key=GATEWAY_KEY,
            aig_token=AIG_TOKEN,
            llm_max_attempts=1,
            _env_file=None,
        )
        client = build_gitlab(settings)
        assert client is not None
        try:
            outcome = review_merge_request(build_engine(settings), client, ReviewRequest(pid, iid, "manual"))
            raised = ""
        except ReviewerError as exc:  # a 500 from every call: the review is to be retried later
            outcome, raised = None, f"{exc!r} {exc}"
        assert gateway.requests and gateway.requests[0].header("authorization") == f"Bearer {GATEWAY_KEY}"
    said_where = raised or (outcome.summary if outcome else "")
    assert said in said_where
    assert _leaks(caplog.text, raised, _bodies(gitlab, pid, iid)) == []


def test_gitlab_refusing_the_token_names_no_token(
    mr: tuple[GitLabStandIn, int, int], caplog: pytest.LogCaptureFixture
) -> None:
    gitlab, pid, iid = mr
    caplog.set_level(logging.DEBUG)
    wrong = GITLAB_TOKEN[:-1] + "X"
    with pytest.raises(ReviewerError) as raised:
        GitLabClient(gitlab.url, wrong, max_retries=1).fetch_diff(pid, iid)
    text = f"{raised.value!r} {raised.value}"
    assert "401" in text
    assert wrong not in text + caplog.text and _leaks(text, caplog.text) == []


def test_a_webhook_with_the_wrong_secret_logs_and_answers_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    queued: list[object] = []

    class Deliveries:
        def first_time(self, key: str) -> bool:
            return True

        def forget(self, key: str) -> None:
            pass

    def enqueue(job: object, key: str) -> str:
        queued.append(job)
        return "t"

    app = create_app((WEBHOOK_SECRET,), enqueue, Deliveries())
    client = TestClient(app)
    guess = WEBHOOK_SECRET[:-1] + "0"
    response = client.post(
        "/webhooks/gitlab", json={"object_kind": "merge_request"}, headers={"X-Gitlab-Token": guess}
    )
    assert response.status_code == 401 and queued == []
    assert guess not in response.text + caplog.text
    assert _leaks(response.text, caplog.text) == []


# -- the command line, as a subprocess: what it prints on the way out --------------------------------


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REVIEWER_", "OPENAI_"))}
    base.update(
        HOME=str(tmp_path),
        REVIEWER_WEBHOOK_SECRET=f"old-{WEBHOOK_SECRET},{WEBHOOK_SECRET}",
        REVIEWER_BACKSTAGE_TOKEN=BACKSTAGE_TOKEN,
        REVIEWER_AIG_TOKEN=AIG_TOKEN,
        REVIEWER_LOG_LEVEL="DEBUG",
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "workers.main", *args],
        env=base,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_cli_on_a_refused_token_and_a_key_echoing_gateway_prints_no_secret(
    mr: tuple[GitLabStandIn, int, int], tmp_path: Path
) -> None:
    gitlab, _, iid = mr
    with FakeGateway(default=error(401, f"Incorrect API key provided: {GATEWAY_KEY}")) as gateway:
        env = {
            "REVIEWER_GITLAB_URL": gitlab.url,
            "REVIEWER_LLM_BASE_URL": gateway.base_url,
            "REVIEWER_LLM_API_KEY": GATEWAY_KEY,
            "REVIEWER_LLM_MAX_ATTEMPTS": "1",
        }
        wrong = "glpat-" + "N" * 20
        wrong_token = _run(tmp_path, "review", "group/app", str(iid), REVIEWER_GITLAB_TOKEN=wrong, **env)
        doctor = _run(tmp_path, "doctor", REVIEWER_GITLAB_TOKEN=GITLAB_TOKEN, **env)
        reviewed = _run(tmp_path, "review", "group/app", str(iid), REVIEWER_GITLAB_TOKEN=GITLAB_TOKEN, **env)
    assert wrong_token.returncode == 2 and "401" in wrong_token.stderr
    assert wrong not in wrong_token.stdout + wrong_token.stderr
    assert "FAIL model gateway" in doctor.stdout and "ok   gitlab" in doctor.stdout
    assert reviewed.returncode == 0, reviewed.stderr
    outputs = [p.stdout + p.stderr for p in (wrong_token, doctor, reviewed)]
    assert _leaks(*outputs, _bodies(gitlab, *mr[1:])) == []


def test_invalid_settings_name_the_variable_and_no_secret(tmp_path: Path) -> None:
    done = _run(
        tmp_path,
        "doctor",
        REVIEWER_GITLAB_URL="https://gitlab.example",
        REVIEWER_GITLAB_TOKEN=GITLAB_TOKEN,
        REVIEWER_LLM_API_KEY=GATEWAY_KEY,
        REVIEWER_GITLAB_TIMEOUT="soon",
        REVIEWER_MAX_COMMENTS=GATEWAY_KEY,  # a secret pasted into the wrong variable
    )
    assert done.returncode == 2
    assert "REVIEWER_GITLAB_TIMEOUT" in done.stderr and "REVIEWER_MAX_COMMENTS" in done.stderr
    assert _leaks(done.stdout, done.stderr) == []


def test_the_log_filter_masks_what_a_source_let_through(caplog: pytest.LogCaptureFixture) -> None:
    redaction.install(SECRETS)
    try:
        logging.getLogger("some.library").warning("sent %s to %s", f"Bearer {GATEWAY_KEY}", "gw")
        try:
            raise ValueError(f"bad token {GITLAB_TOKEN}")
        except ValueError:
            logging.getLogger("some.library").exception("failed")
    finally:
        redaction.install(())
    assert _leaks(caplog.text) == [] and caplog.text.count(redaction.MASK) == 2
