"""A merge request under review, for the tests of how a review is published (verdict, drafts,
approvals, overrides, readiness, follow-ups): the GitLab and gateway stand-ins over HTTP, the
ledger in a real Redis server, a prompts directory with the team's file, and a model that says
what each test tells it to (``Scene.says``: findings per path)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from fakes.gateway_server import FakeGateway
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo

from reviewer.app.config import Settings
from reviewer.app.services import build_engine
from reviewer.app.state import ReviewLedger
from reviewer.catalog import ServiceCatalog
from reviewer.gitlab.client import GitLabClient
from reviewer.pipeline import ReviewObserver, ReviewOutcome, ReviewRequest, review_merge_request

TEAM = "payments"
CATALOG_INFO = yaml.safe_dump(
    {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "app"},
        "spec": {"type": "service", "owner": f"group:default/{TEAM}", "lifecycle": "production"},
    }
)
_CATEGORIES = re.compile(r'"category": ((?:"\w+"(?: \| )?)+)')


def finding(
    path: str, line: int, title: str, severity: str = "high", aspect: str = "security"
) -> dict[str, Any]:
    return {
        "path": path,
        "line": line,
        "side": "new",
        "severity": severity,
        "category": aspect,
        "title": title,
        "body": "Why it matters.",
        "confidence": 0.9,
    }


@dataclass
class Scene:
    gitlab: GitLabStandIn
    gateway: FakeGateway
    repo: GitRepo
    ledger: ReviewLedger
    prompts: Path
    pid: int
    iid: int = 0
    says: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # path -> findings

    def answer(self, request: dict[str, Any]) -> str:
        system, shown = request["messages"][0]["content"], request["messages"][-1]["content"]
        categories = set(re.findall(r'"(\w+)"', m.group(1))) if (m := _CATEGORIES.search(system)) else set()
        found = [
            f
            for path, findings in self.says.items()
            if f"## {path}" in shown
            for f in findings
            if f["category"] in categories
        ]
        return json.dumps({"findings": found})

    def team(self, **policy: Any) -> None:
        """The team's file, prompts/teams/payments.yaml."""
        (self.prompts / "teams" / f"{TEAM}.yaml").write_text(yaml.safe_dump(policy))

    def review(
        self,
        trigger: str = "opened",
        *,
        note_id: int | None = None,
        observer: ReviewObserver | None = None,
        delivery: str = "",
    ) -> ReviewOutcome:
        settings = Settings(
            llm_base_url=self.gateway.base_url,
            llm_api_key="k",
            llm_max_attempts=1,
            prompts_dir=self.prompts,
            _env_file=None,
        )
        client = GitLabClient(self.gitlab.url, self.gitlab.token, max_retries=1)
        request = ReviewRequest(self.pid, self.iid, trigger, delivery=delivery, note_id=note_id)
        engine, catalog = build_engine(settings), ServiceCatalog()  # the team: catalog-info.yaml's owner
        return review_merge_request(
            engine, client, request, ledger=self.ledger, catalog=catalog, observer=observer
        )

    def push(self, files: dict[str, str | bytes | None], message: str = "more") -> str:
        sha = self.repo.commit(files, branch="feature", message=message)
        self.gitlab.push(self.pid, "feature")
        return sha

    @property
    def head(self) -> str:
        return str(self.gitlab.mr(self.pid, self.iid)["sha"])

    def model_calls(self) -> int:
        return len([r for r in self.gateway.requests if r.path.endswith("/chat/completions")])

    def summary(self) -> str:
        (body,) = [
            n["body"]
            for n in self.gitlab.notes(self.pid, self.iid)
            if "<!-- ai-review summary -->" in n["body"]
        ]
        return str(body)

    def verdict_line(self) -> str:
        return next(line for line in self.summary().splitlines() if "**Verdict" in line)

    def bot_threads(self) -> list[dict[str, Any]]:
        bot = self.gitlab.bot.id
        return [
            d
            for d in self.gitlab.discussions(self.pid, self.iid)
            if d["notes"][0]["author"]["id"] == bot and d["notes"][0].get("position")
        ]

    def bot_notifications(self) -> list[str]:
        return [
            n["kind"] for n in self.gitlab.notifications(self.pid, self.iid, author_id=self.gitlab.bot.id)
        ]


def open_mr(scene: Scene, files: dict[str, str | bytes | None], *, draft: bool = False) -> int:
    scene.repo.commit(files, branch="feature", message="feature work")
    scene.iid = scene.gitlab.open_mr(scene.pid, "feature", title="Feature work", draft=draft)
    return scene.iid


def io_with(**changes: str) -> str:
    """app/io.py with the given lines replaced: ``io_with(l15="os.system(cmd)")``."""
    lines = [f"value_{n} = {n}" for n in range(1, 31)]
    for key, text in changes.items():
        lines[int(key[1:]) - 1] = text
    return "\n".join(lines) + "\n"
