"""The pages for platform teams in a real headless browser: Debian's chromium, driven through its
chromedriver by Selenium, reading the intake that `reviewer serve` runs (CeleryRuntime: the intake,
an embedded Redis and a real worker in a thread) served by uvicorn on loopback.

Five reviews go through the real pipeline first, against the GitLab and gateway stand-ins: two of
the payments team (one with an AWS key id in its title), one of the web team that is partial (its
style call fails), one that fails for good, and one skipped (its head was reviewed already). Each
page's numbers are then read in the browser and compared with the task outcomes and the records.

A screenshot of each page is written to tests/artifacts/pages/ (gitignored; the path is printed).
Without chromium the tests skip, except in CI (CI=true), where they fail: .ci/run installs it.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import redis
import uvicorn
from fakes.gateway_server import FakeGateway, Reply, answer, error
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo
from fakes.ports import free_port
from review_stack import FAST, TODO_FILE, todo_model, wait_for
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from starlette.applications import Starlette
from starlette.testclient import TestClient

from reviewer.app.config import SHIPPED_PROMPTS, Settings
from reviewer.app.embedded_redis import EmbeddedRedis
from reviewer.app.events import ReviewJob
from reviewer.app.pages import PageSources, include_pages, pages_app
from reviewer.app.records import ReviewRecord, ReviewRecords
from reviewer.app.services import thresholds
from reviewer.app.spool import Spool
from reviewer.app.state import RedisDeliveryLog, connect
from reviewer.app.team_stats import JudgedFeedback
from reviewer.app.web import create_app
from reviewer.review.prompts import PromptStore
from workers.runtime import CeleryRuntime, Running
from workers.tasks import enqueue_review

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "pages"
UI_TOKEN = "ui-token-of-the-pages-test"
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
PAYMENTS = "group:default/payments"
WEB = "group:default/web"
TEAM_INSTRUCTIONS = "Money is always Decimal, never float."


def catalog_info(name: str, owner: str) -> str:
    return (
        "apiVersion: backstage.io/v1alpha1\nkind: Component\n"
        f"metadata: {{name: {name}}}\nspec: {{type: service, lifecycle: production, owner: '{owner}'}}\n"
    )


def model(request: dict[str, Any]) -> str | Reply:
    """The TODO model, except that style calls about auth/session.py and every call about
    lib/broken.py fail (the model client's own retries included)."""
    system, user = request["messages"][0]["content"], request["messages"][-1]["content"]
    if "lib/broken.py" in user:
        return error(500, "the upstream model is down")
    if "auth/session.py" in user and "Flag bugs" in system and "Flag injection" not in system:
        return error(500, "the upstream model is down")
    return answer(todo_model(request))


@dataclass
class Site:
    """The running bot, the reviews it made (name -> task id, outcome) and where its pages are."""

    url: str
    gitlab: GitLabStandIn
    running: Running
    records: ReviewRecords
    prompts: PromptStore
    jobs: dict[str, str] = field(default_factory=dict)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    mrs: dict[str, tuple[int, int]] = field(default_factory=dict)

    def record(self, name: str) -> ReviewRecord:
        (record,) = [r for r in self.records.recent() if r.job_id == self.jobs[name]]
        return record


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn in a thread of this process on a loopback port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="pages-test-uvicorn", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 30, lambda: "uvicorn serving the pages")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


# name -> (project, branch, file, title); "skipped" asks again for "steps", whose head was reviewed
MERGE_REQUESTS = {
    "steps": ("payments/api", "steps", "app/steps.py", "Add steps"),
    "titled": ("payments/api", "retry", "app/retry.py", f"Retry with {AWS_KEY_ID} rotated"),
    "partial": ("web/shop", "session", "auth/session.py", "Keep sessions"),
    "failed": ("web/shop", "broken", "lib/broken.py", "Break things"),
}
OWNERS = {"payments/api": PAYMENTS, "web/shop": WEB}


def _open_merge_requests(gitlab: GitLabStandIn, home: Path) -> dict[str, tuple[int, int]]:
    repos, project_ids = {}, {}
    for path, owner in OWNERS.items():
        repos[path] = GitRepo.create(home / path, files={"catalog-info.yaml": catalog_info(path, owner)})
        project_ids[path] = gitlab.add_project(path, repos[path])
    mrs = {}
    for name, (path, branch, file, title) in MERGE_REQUESTS.items():
        repos[path].commit({file: TODO_FILE}, branch=branch, message=title)
        mrs[name] = (project_ids[path], gitlab.open_mr(project_ids[path], branch, title=title))
    return mrs


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("pages")
    prompts = home / "prompts"
    shutil.copytree(SHIPPED_PROMPTS, prompts)
    (prompts / "teams" / "payments.yaml").write_text(f"instructions: {TEAM_INSTRUCTIONS}\nmax_comments: 8\n")
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith(("REVIEWER_", "OPENAI_"))]:
            env.delenv(name)
        env.chdir(home)
        with GitLabStandIn() as gitlab, FakeGateway(responder=model) as gateway:
            mrs = _open_merge_requests(gitlab, home)
            settings = Settings(
                _env_file=None,
                gitlab_url=gitlab.url,
                gitlab_token=gitlab.token,
                llm_base_url=gateway.base_url,
                llm_api_key="gateway-key",
                llm_model="gpt-4o-mini",
                state_dir=home / "state",
                prompts_dir=prompts,
                ui_token=UI_TOKEN,
                **{**FAST, "max_retries": 1},
            )
            running = CeleryRuntime().start(settings, worker=True)
            try:
                client = connect(running.redis_url)
                store = PromptStore(prompts, defaults=thresholds(settings))
                jobs: dict[str, str] = {}
                outcomes: dict[str, dict[str, Any]] = {}
                for name, (project_id, iid) in [*mrs.items(), ("skipped", mrs["steps"])]:
                    job = ReviewJob(project_id, iid, "opened")
                    jobs[name] = enqueue_review(running.celery, job, f"delivery-{name}")
                    result = running.celery.AsyncResult(jobs[name])
                    outcomes[name] = dict(result.get(timeout=90, disable_sync_subtasks=False))
                with serving(running.app) as url:
                    yield Site(url, gitlab, running, ReviewRecords(client), store, jobs, outcomes, mrs)
            finally:
                running.close()


def _launch(profile: Path) -> webdriver.Chrome:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1440,900",
    ):
        options.add_argument(argument)
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(profile.parent / "chromedriver.log"))
    return webdriver.Chrome(service=service, options=options)


def _exited(pids: list[int]) -> bool:
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        missing = f"{CHROMIUM} and {CHROMEDRIVER} (Debian: apt-get install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser tests: {missing} are missing (.ci/run installs them)")
        pytest.skip(f"no headless browser here: needs {missing}")
    driver = _launch(tmp_path_factory.mktemp("chromium") / "profile")
    assert driver.service.process is not None
    driver_process = psutil.Process(driver.service.process.pid)
    try:
        yield driver
    finally:
        started = [driver_process.pid, *(p.pid for p in driver_process.children(recursive=True))]
        driver.quit()
        wait_for(lambda: _exited(started), 20, lambda: "chromium and chromedriver to exit")


def _screenshot(driver: webdriver.Chrome, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1440, min(max(900, height + 120), 6000))
    path = ARTIFACTS / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"no screenshot of {name}"
    driver.set_window_size(1440, 900)
    print(f"screenshot: {path}")
    return path


def _signed_in(driver: webdriver.Chrome, site: Site) -> None:
    driver.get(f"{site.url}/ui/?token={UI_TOKEN}")
    wait_for(lambda: driver.current_url == f"{site.url}/ui/", 10, lambda: "the address without the token")


def _rows(driver: webdriver.Chrome, selector: str, key: str) -> dict[str, dict[str, str]]:
    """Each row's cells by class name, keyed by the row's ``data-<key>``."""
    rows = {}
    for row in driver.find_elements(By.CSS_SELECTOR, selector):
        cells = {}
        for cell in row.find_elements(By.TAG_NAME, "td"):
            for name in (cell.get_attribute("class") or "").split():
                cells[name] = cell.text
        rows[row.get_attribute(f"data-{key}") or ""] = cells
    return rows


def _text(driver: webdriver.Chrome, css: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def _usd(amount: float) -> str:
    return f"${amount:,.6f}" if 0 < amount < 0.01 else f"${amount:,.4f}"


def test_the_reviews_went_through_the_pipeline_as_planned(site: Site) -> None:
    statuses = {name: outcome["status"] for name, outcome in site.outcomes.items()}
    assert statuses == {
        "steps": "reviewed",
        "titled": "reviewed",
        "partial": "partial",
        "failed": "failed",
        "skipped": "skipped",
    }
    assert site.outcomes["steps"]["inline"] == 4 and site.outcomes["steps"]["cost"] > 0


def test_the_token_gate_refuses_a_request_without_the_token(site: Site) -> None:
    assert httpx.get(f"{site.url}/ui/").status_code == 401
    assert httpx.get(f"{site.url}/ui/teams", params={"token": "guess"}).status_code == 401
    assert httpx.get(f"{site.url}/ui/", headers={"Authorization": f"Bearer {UI_TOKEN}"}).status_code == 200
    assert httpx.get(f"{site.url}/healthz").status_code == 200  # the intake beside it needs no token


def test_a_browser_without_the_token_gets_the_token_page_then_a_cookie_from_the_link(
    site: Site, browser: webdriver.Chrome
) -> None:
    browser.delete_all_cookies()
    browser.get(f"{site.url}/ui/teams")
    assert _text(browser, "h1") == "Token required"
    assert browser.find_elements(By.CSS_SELECTOR, "tr.team-row") == []
    _screenshot(browser, "token-required")

    _signed_in(browser, site)

    (cookie,) = browser.get_cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (
        "reviewer_ui", True, "Strict", "/ui",
    )  # fmt: skip
    assert UI_TOKEN not in cookie["value"]
    browser.find_element(By.LINK_TEXT, "Teams").click()  # a page reached by a link: the cookie works
    assert _text(browser, "h1") == "Teams"


def test_recent_reviews_show_what_each_review_did(site: Site, browser: webdriver.Chrome) -> None:
    _signed_in(browser, site)
    rows = _rows(browser, "tr.review", "job")
    _screenshot(browser, "recent-reviews")

    assert set(rows) == set(site.jobs.values())
    for name, job in site.jobs.items():
        outcome, record, row = site.outcomes[name], site.record(name), rows[job]
        assert row["status"].split("\n")[0] == outcome["status"]
        assert row["inline"] == str(outcome.get("inline", 0))
        assert row["in-summary"] == str(outcome.get("in_summary", 0))
        tokens = outcome.get("prompt_tokens", 0) + outcome.get("completion_tokens", 0)
        assert row["tokens"] == f"{tokens:,}" == f"{record.tokens:,}"
        assert row["cost"] == _usd(outcome.get("cost", 0.0)) == _usd(record.cost)
        assert row["duration"] == f"{record.duration:.1f} s"
        assert row["verdict"] == (outcome.get("verdict") or "not recorded")  # failed jobs have none
    steps = rows[site.jobs["steps"]]
    assert steps["team"] == PAYMENTS and steps["tier"] == site.outcomes["steps"]["tier"]
    project_id, iid = site.mrs["steps"]
    assert steps["mr"].startswith(f"payments/api!{iid}\nAdd steps")
    link = browser.find_element(By.CSS_SELECTOR, f'tr[data-job="{site.jobs["steps"]}"] td.mr a')
    assert link.get_attribute("href") == site.gitlab.mr(project_id, iid)["web_url"]
    assert rows[site.jobs["partial"]]["failures"] == "1 model call failed; 1 file left for the next review"
    assert "every model call failed" in rows[site.jobs["failed"]]["status"]
    assert "already reviewed" in rows[site.jobs["skipped"]]["status"]
    # stopped before the catalog answered: the project's path and team as its last review had them
    assert rows[site.jobs["failed"]]["team"] == WEB and rows[site.jobs["failed"]]["mr"].startswith(
        "web/shop!"
    )
    assert rows[site.jobs["skipped"]]["team"] == PAYMENTS


def test_no_secret_reaches_a_page(site: Site, browser: webdriver.Chrome) -> None:
    _signed_in(browser, site)
    titled = _rows(browser, "tr.review", "job")[site.jobs["titled"]]
    assert "Retry with [REDACTED] rotated" in titled["mr"]
    for page in ("/ui/", "/ui/teams", f"/ui/team?name={PAYMENTS}", f"/ui/team/prompts?name={PAYMENTS}"):
        browser.get(site.url + page)
        for secret in (AWS_KEY_ID, UI_TOKEN, "gateway-key", site.gitlab.token):
            assert secret not in browser.page_source, f"{secret} on {page}"


def test_the_teams_page_adds_up_each_teams_reviews(site: Site, browser: webdriver.Chrome) -> None:
    _signed_in(browser, site)
    browser.get(f"{site.url}/ui/teams")
    rows = _rows(browser, "tr.team-row", "team")
    _screenshot(browser, "teams")

    assert list(rows)[:2] == [PAYMENTS, WEB]  # the most recently reviewed first (the skipped one)
    assert "example" in rows  # a prompts file without reviews is a team too
    for team, names in ((PAYMENTS, ["steps", "titled", "skipped"]), (WEB, ["partial", "failed"])):
        records = [site.record(name) for name in names]
        assert rows[team]["reviews"] == str(len(names))
        assert rows[team]["tokens"] == f"{sum(r.tokens for r in records):,}"
        assert rows[team]["cost"] == _usd(sum(r.cost for r in records))
    assert rows[WEB]["failed"] == "1"


def test_a_teams_page_shows_its_cost_prompt_versions_and_that_acceptance_is_not_recorded_yet(
    site: Site, browser: webdriver.Chrome
) -> None:
    _signed_in(browser, site)
    browser.get(f"{site.url}/ui/teams")
    browser.find_element(By.LINK_TEXT, PAYMENTS).click()
    _screenshot(browser, "team-payments")

    records = [site.record("steps"), site.record("titled"), site.record("skipped")]
    assert _text(browser, "h1") == f"Team {PAYMENTS}"
    assert _text(browser, "#reviews") == "3" and _text(browser, "#status-reviewed") == "2"
    assert _text(browser, "#status-skipped") == "1"
    assert _text(browser, "#tokens") == f"{sum(r.tokens for r in records):,}"
    assert _text(browser, "#cost") == _usd(sum(r.cost for r in records))
    assert _text(browser, "#findings") == "8 / 0"
    acceptance = _text(browser, "#acceptance-missing")  # the feedback store is connected: posted, none judged
    assert "not recorded yet" in acceptance
    assert "findings posted for this team's reviews was judged yet" in acceptance
    version = site.prompts.version("security+style", site.prompts.policy(PAYMENTS))
    assert [r.prompt_versions for r in records] == [{"security+style": version}] * 2 + [{}]
    versions = _rows(browser, "tr.version", "version")
    assert list(versions) == [version]
    assert versions[version]["reviews"] == "2"
    assert versions[version]["rate"] == "not recorded yet"
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr.review")) == 3

    browser.get(f"{site.url}/ui/team?name={WEB}")
    assert _text(browser, "#status-partial") == "1" and _text(browser, "#status-failed") == "1"
    web_versions = _rows(browser, "tr.version", "version")
    assert set(web_versions) == set(site.record("partial").prompt_versions.values())
    _screenshot(browser, "team-web")


def test_a_teams_prompts_page_shows_its_rules_and_prompts(site: Site, browser: webdriver.Chrome) -> None:
    _signed_in(browser, site)
    browser.get(f"{site.url}/ui/team?name={PAYMENTS}")
    browser.find_element(By.LINK_TEXT, "Effective prompts and rules").click()
    _screenshot(browser, "team-payments-prompts")

    rules = {
        row.find_element(By.TAG_NAME, "th").text: row.find_element(By.TAG_NAME, "td").text
        for row in browser.find_elements(By.CSS_SELECTOR, "table.rules tr")
    }
    assert rules["Override files applied"] == "teams/payments.yaml"
    assert rules["Most comments per MR"] == "8"
    assert rules["Extra instructions"] == TEAM_INSTRUCTIONS
    prompt = _text(browser, "#prompt")
    version = site.prompts.version("security+style", site.prompts.policy(PAYMENTS))
    assert prompt.startswith(f"# security+style for {PAYMENTS}: version {version}")
    assert TEAM_INSTRUCTIONS in prompt and "Flag injection" in prompt and "Flag bugs" in prompt

    browser.find_element(By.LINK_TEXT, "security").click()
    assert "Flag injection" in _text(browser, "#prompt") and "Flag bugs" not in _text(browser, "#prompt")


class _Judged:
    """A judged finding as the feedback store gives it: what was posted, and what people did."""

    def __init__(self, aspect: str, version: str, verdict: str | None) -> None:
        self.finding = type("Posted", (), {"aspect": aspect, "prompt_version": version})()
        self.verdict = verdict


def test_acceptance_is_shown_per_aspect_and_prompt_version_once_feedback_is_recorded(
    site: Site, browser: webdriver.Chrome
) -> None:
    version = site.record("steps").prompt_versions["security+style"]
    judged = [
        _Judged("style", version, "accepted"),
        _Judged("style", version, "accepted"),
        _Judged("style", version, "dismissed"),
        _Judged("style", version, None),
        _Judged("security", version, "dismissed"),
    ]

    class Feedback:
        def judged(self, *, since: float | None = None, team: str | None = None) -> list[_Judged]:
            return judged if team == PAYMENTS else []

    sources = PageSources(site.records, lambda: site.prompts, JudgedFeedback(Feedback()))
    app = Starlette()
    app.mount("/ui", pages_app(sources, token=None))
    with serving(app) as url:
        browser.get(f"{url}/ui/team?name={PAYMENTS}")
        aspects = _rows(browser, "tr.aspect", "aspect")
        versions = _rows(browser, "tr.version", "version")
        _screenshot(browser, "team-payments-with-feedback")

    assert aspects["style"] == {"posted": "4", "accepted": "2", "dismissed": "1", "rate": "67%", "num": "67%"}
    assert (aspects["security"]["posted"], aspects["security"]["rate"]) == ("1", "0%")
    assert versions[version]["rate"] == "50% of 4 judged"


# -- without a browser: when the pages are off, when Redis is down, what a bad record can do ------

HOOK = {
    "object_kind": "merge_request",
    "project": {"id": 9},
    "object_attributes": {"iid": 4, "action": "open", "state": "opened", "last_commit": {"id": "c0ffee"}},
}
LOCAL = "http://127.0.0.1:8080"
HOOK_HEADERS = {"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": "hook-secret"}


def _broker_down(job: ReviewJob, key: str) -> str:
    raise ConnectionError("the broker is down")


def _intake(settings: Settings, client: redis.Redis, tmp_path: Path) -> Starlette:
    """The intake as the runtime builds it: webhooks, then the pages when they may be on."""
    app = create_app(
        ("hook-secret",), _broker_down, RedisDeliveryLog(client), spool=Spool(tmp_path / "spool")
    )
    include_pages(app, settings, client)
    return app


@pytest.mark.parametrize(("host", "token", "on"), [("0.0.0.0", None, False), ("0.0.0.0", UI_TOKEN, True)])
def test_beyond_loopback_the_pages_are_off_without_a_token(
    host: str, token: str | None, on: bool, tmp_path: Path
) -> None:
    settings = Settings(_env_file=None, host=host, ui_token=token)
    dead = connect(f"redis://127.0.0.1:{free_port()}/0")
    with TestClient(_intake(settings, dead, tmp_path), base_url=LOCAL) as intake:
        assert intake.get("/ui/").status_code == (401 if on else 404)
        assert intake.get("/healthz").status_code == 200


def test_with_redis_down_a_page_says_so_and_the_webhooks_still_get_no_5xx(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, host="127.0.0.1")
    dead = connect(f"redis://127.0.0.1:{free_port()}/0")
    with TestClient(
        _intake(settings, dead, tmp_path), base_url=LOCAL, raise_server_exceptions=False
    ) as intake:
        page = intake.get("/ui/")
        delivery = intake.post("/webhooks/gitlab", json=HOOK, headers=HOOK_HEADERS)

    assert page.status_code == 503
    assert "Redis did not answer" in page.text and "ConnectionError" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert delivery.status_code == 202 and delivery.json()["status"] == "spooled"


def test_a_record_cannot_inject_markup_or_a_script_link(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "redis") as server:
        client = connect(server.url)
        hostile = ReviewRecord(
            "job-x", 1, 1, "reviewed", 0.0, 1.0, project="group/<b>app</b>",
            title='<script>alert(1)</script>"><img src=x>', web_url="javascript:alert(1)", team="<i>t</i>",
        )  # fmt: skip
        client.lpush("reviewer:records:recent", hostile.as_json().encode())  # as if another writer did
        settings = Settings(_env_file=None, host="127.0.0.1")
        with TestClient(_intake(settings, client, tmp_path), base_url=LOCAL) as intake:
            html = intake.get("/ui/").text

    assert "<script>" not in html and "<img" not in html and "<b>app" not in html and "<i>t" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img src=x&gt;" in html
    assert "javascript:" not in html
