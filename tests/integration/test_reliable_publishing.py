"""Reviews that are never posted twice and never lost, whatever fails: the pipeline against the
GitLab and gateway stand-ins over HTTP, with the ledger in a real Redis server (the embedded one).

GitLab loses answers after writing (a 5xx, a dropped connection), writes slowly, or refuses a
write; the model fails for some files. Each test says what a reviewer would see in the MR.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakes.gateway_server import FakeGateway, Reply, error
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo

from reviewer.app.config import Settings
from reviewer.app.embedded_redis import EmbeddedRedis
from reviewer.app.services import build_engine
from reviewer.app.state import ReviewLedger, connect
from reviewer.errors import TransientError
from reviewer.gitlab.client import GitLabClient
from reviewer.pipeline import ReviewOutcome, ReviewRequest, review_merge_request
from reviewer.review.memory import Unfinished

AWS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
FILES = {
    "app/a.py": "def add(a, b):\n    total = eval(f'{a}+{b}')\n    return total\n\n\ndef noop():\n    pass\n",
    "app/b.py": "import os\n\ndef run(cmd):\n    os.system(cmd)\n",
    "app/c.py": f'REGION = "eu-west-1"\nAWS_SECRET_ACCESS_KEY = "{AWS_KEY}"\n',
}
# What the model says about each file it is shown: (line, title). app/c.py line 2 is also the
# secret detector's line.
MODEL_SAYS = {
    "app/a.py": [(2, "eval on user input"), (6, "Function does nothing")],
    "app/b.py": [(4, "Shell command from input")],
    "app/c.py": [(2, "Hard-coded AWS secret")],
}
MARKER = re.compile(r"<!-- ai-review fp=([0-9a-f]+)")


def model(request: dict[str, Any], failing: frozenset[str] = frozenset()) -> str | Reply:
    shown = request["messages"][-1]["content"]
    paths = [path for path in MODEL_SAYS if f"## {path}" in shown]
    if failing.intersection(paths):
        return error(500, "upstream overloaded")
    findings = [
        {
            "path": path,
            "line": line,
            "side": "new",
            "severity": "high",
            "category": "security",
            "title": title,
            "body": "Why it matters.",
            "confidence": 0.9,
        }
        for path in paths
        for line, title in MODEL_SAYS[path]
    ]
    return json.dumps({"findings": findings})


@dataclass
class MR:
    gitlab: GitLabStandIn
    gateway: FakeGateway
    ledger: ReviewLedger
    pid: int
    iid: int

    def review(
        self, trigger: str = "opened", delivery: str = "", *, timeout: float = 30.0, chunk_tokens: int = 10000
    ) -> ReviewOutcome:
        settings = Settings(
            llm_base_url=self.gateway.base_url,
            llm_api_key="k",
            llm_max_attempts=1,
            chunk_tokens=chunk_tokens,
            _env_file=None,
        )
        client = GitLabClient(self.gitlab.url, self.gitlab.token, timeout=timeout, max_retries=1)
        request = ReviewRequest(self.pid, self.iid, trigger, delivery=delivery)
        return review_merge_request(build_engine(settings), client, request, ledger=self.ledger)

    @property
    def head(self) -> str:
        return str(self.gitlab.versions(self.pid, self.iid)[0]["head_commit_sha"])

    def model_calls(self) -> int:
        return len([r for r in self.gateway.requests if r.path.endswith("/chat/completions")])

    def bot_threads(self) -> list[dict[str, Any]]:
        bot = self.gitlab.bot.id
        return [
            d
            for d in self.gitlab.discussions(self.pid, self.iid)
            if d["notes"][0]["author"]["id"] == bot and d["notes"][0].get("position")
        ]

    def fingerprints(self) -> Counter[str]:
        """How often each finding's marker appears in the bot's threads."""
        return Counter(fp for d in self.bot_threads() for n in d["notes"] for fp in MARKER.findall(n["body"]))

    def titles(self) -> Counter[str]:
        return Counter(
            title
            for d in self.bot_threads()
            for n in d["notes"]
            for title in re.findall(r"\*\*: (.*)", n["body"])
        )

    def summaries(self) -> list[str]:
        return [
            n["body"]
            for n in self.gitlab.notes(self.pid, self.iid)
            if "<!-- ai-review summary -->" in n["body"]
        ]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def mr(tmp_path: Path, redis_url: str) -> Iterator[MR]:
    client = connect(redis_url)
    client.flushall()
    repo = GitRepo.create(tmp_path / "app", files={"README.md": "# app\n"})
    repo.commit(dict(FILES), branch="feature", message="Add the app")
    with GitLabStandIn() as gitlab, FakeGateway(responder=model) as gateway:
        pid = gitlab.add_project("group/app", repo)
        yield MR(
            gitlab, gateway, ReviewLedger(client), pid, gitlab.open_mr(pid, "feature", title="Add the app")
        )
    client.close()


EXPECTED_TITLES = {title for said in MODEL_SAYS.values() for _, title in said}


def _every_finding_once(mr: MR) -> None:
    fingerprints = mr.fingerprints()
    assert fingerprints and set(fingerprints.values()) == {1}, fingerprints
    titles = mr.titles()
    assert set(titles) >= EXPECTED_TITLES and set(titles.values()) == {1}, titles
    lines = [
        (d["notes"][0]["position"]["new_path"], d["notes"][0]["position"]["new_line"])
        for d in mr.bot_threads()
    ]
    assert len(lines) == len(set(lines)), lines  # never two bot threads on one line
    assert len(mr.summaries()) == 1


# Threads are drafts published as one review (GitLab's Draft Notes API), or, where GitLab has no
# such API, discussions posted one by one: each write path is tested.
WRITES = [
    pytest.param(r"/draft_notes$", True, id="drafts"),
    pytest.param(r"/discussions$", False, id="threads"),
]


@pytest.mark.parametrize(("path", "drafts"), WRITES)
@pytest.mark.parametrize("fault", ["lost_answer", "dropped_answer", "late_answer"])
def test_lost_answers_on_the_first_and_third_thread_posts_leave_no_duplicate(
    mr: MR, fault: str, path: str, drafts: bool
) -> None:
    # lost_answer: a 500 after the write; dropped_answer: the connection closes after it;
    # late_answer: the write is done at once, the answer comes after the client's timeout.
    mr.gitlab.draft_notes_api = drafts
    mr.gitlab.inject("POST", path, fault, nth=(1, 3), delay=2.5)
    outcome = mr.review(timeout=1.5)  # generous on loopback: only the late answers time out
    assert mr.gitlab.wait_idle(timeout=10)
    assert outcome.status == "reviewed"
    _every_finding_once(mr)
    posts = mr.gitlab.requests_to("POST", path)
    assert len(posts) == len(mr.bot_threads()) == 4  # one per line, none sent twice
    assert [p.fault for p in posts].count(fault) == 2
    assert mr.ledger.last_reviewed(mr.pid, mr.iid) == mr.head


@pytest.mark.parametrize(("path", "drafts"), WRITES)
@pytest.mark.parametrize("fault", ["refused", "slow_write"])
def test_a_review_retried_after_failing_mid_publish_asks_the_model_nothing_and_posts_nothing_twice(
    mr: MR, fault: str, path: str, drafts: bool
) -> None:
    # "refused": GitLab wrote nothing and said so (502). "slow_write": the write lands after the
    # client gave up waiting, so a read-back right away cannot see it yet.
    mr.gitlab.draft_notes_api = drafts
    mr.gitlab.inject("POST", path, fault, nth=(2,), status=502, delay=2.5)
    with pytest.raises(TransientError, match="not there"):
        mr.review(timeout=1.5)
    assert mr.summaries() == [] and mr.ledger.last_reviewed(mr.pid, mr.iid) is None
    asked = mr.model_calls()
    assert asked >= 1
    assert mr.gitlab.wait_idle(timeout=10)  # a slow write has landed by the time the task retries

    outcome = mr.review()  # the task's retry
    assert mr.model_calls() == asked and outcome.reused == asked
    assert outcome.status == "reviewed"
    _every_finding_once(mr)
    assert mr.ledger.last_reviewed(mr.pid, mr.iid) == mr.head


def test_the_secret_detector_and_the_model_on_one_line_make_one_thread_listing_both(mr: MR) -> None:
    mr.review()
    (thread,) = [d for d in mr.bot_threads() if d["notes"][0]["position"]["new_path"] == "app/c.py"]
    assert thread["notes"][0]["position"]["new_line"] == 2
    body = thread["notes"][0]["body"]
    assert len(MARKER.findall(body)) == 2 and "Hard-coded AWS secret" in body
    assert AWS_KEY not in body

    writes = r"/discussions|/draft_notes"
    posts, asked = len(mr.gitlab.requests_to("POST", writes)), mr.model_calls()
    again = mr.review("command", "idem:again")  # someone asks for a fresh review of the same head
    assert again.status == "reviewed" and again.inline == 0 and again.already_posted == 5
    assert len(mr.gitlab.requests_to("POST", writes)) == posts  # no thread, no reply
    assert mr.model_calls() == asked  # the stored answers: the same findings, word for word
    _every_finding_once(mr)


def test_files_whose_model_calls_failed_are_named_and_reviewed_by_the_next_trigger(mr: MR) -> None:
    mr.gateway.responder = lambda request: model(request, failing=frozenset({"app/a.py"}))
    first = mr.review(chunk_tokens=80)  # a chunk per file
    assert first.status == "partial" and first.unreviewed == ("app/a.py",)
    (summary,) = mr.summaries()
    assert "Not reviewed yet: `app/a.py`" in summary
    assert mr.ledger.last_reviewed(mr.pid, mr.iid) is None  # not recorded as reviewed
    assert mr.ledger.unfinished(mr.pid, mr.iid) == Unfinished(mr.head, ("app/a.py",))
    assert "eval on user input" not in mr.titles()
    asked = len(mr.gateway.requests)

    mr.gateway.responder = model  # the gateway is back
    second = mr.review("opened", chunk_tokens=80)  # the next trigger: a redelivery, a sweep
    retried = mr.gateway.requests[asked:]
    assert retried and all("## app/a.py" in r.messages[-1]["content"] for r in retried)
    assert not any("## app/b.py" in r.messages[-1]["content"] for r in retried)
    assert second.status == "reviewed" and second.unreviewed == ()
    _every_finding_once(mr)
    (summary,) = mr.summaries()
    assert "could not complete before" in summary and "Not reviewed yet" not in summary
    assert mr.ledger.last_reviewed(mr.pid, mr.iid) == mr.head
    assert mr.ledger.unfinished(mr.pid, mr.iid) is None

    assert mr.review("opened").status == "skipped"


def test_a_push_after_a_partial_review_reviews_the_push_and_the_failed_files(mr: MR, tmp_path: Path) -> None:
    mr.gateway.responder = lambda request: model(request, failing=frozenset({"app/a.py"}))
    assert mr.review(chunk_tokens=80).status == "partial"
    mr.gateway.responder = model
    asked = len(mr.gateway.requests)

    repo = GitRepo(tmp_path / "app")
    repo.commit({"app/d.py": "x = 1\n"}, branch="feature", message="more")
    mr.gitlab.push(mr.pid, "feature")
    outcome = mr.review("pushed", chunk_tokens=80)
    shown = "".join(r.messages[-1]["content"] for r in mr.gateway.requests[asked:])
    assert "## app/a.py" in shown and "## app/d.py" in shown and "## app/b.py" not in shown
    assert outcome.status == "reviewed" and "eval on user input" in mr.titles()
    assert mr.ledger.last_reviewed(mr.pid, mr.iid) == mr.head


def test_a_review_command_retried_after_a_transient_error_is_not_dropped_by_its_cooldown(mr: MR) -> None:
    mr.gitlab.inject("POST", r"/bulk_publish$", "refused", status=503)  # the review, first try
    with pytest.raises(TransientError):
        mr.review("command", "idem:1")
    asked = mr.model_calls()

    retried = mr.review("command", "idem:1")  # the task's retry of the same delivery
    assert retried.status == "reviewed" and len(mr.summaries()) == 1
    assert mr.model_calls() == asked
    _every_finding_once(mr)

    another = mr.review("command", "idem:2")  # a second comment moments later
    assert another.status == "skipped" and "moments ago" in another.reason
