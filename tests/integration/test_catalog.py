"""The service catalog: Backstage over HTTP, catalog-info.yaml as the fallback, and what a review
does with them (the owner's team policy, the service line in the prompt, the team in metadata)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.backstage_server import BackstageStandIn
from fakes.gateway_server import FakeGateway
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo

from reviewer.app.config import SHIPPED_PROMPTS, Settings
from reviewer.app.services import build_catalog, build_engine
from reviewer.catalog import BackstageCatalog, ServiceCatalog, parse_catalog_info
from reviewer.gitlab.client import GitLabClient
from reviewer.pipeline import ReviewRequest, review_merge_request

PAYMENTS: dict[str, Any] = {
    "apiVersion": "backstage.io/v1alpha1",
    "kind": "Component",
    "metadata": {
        "name": "payments-api",
        "namespace": "default",
        "annotations": {"gitlab.com/project-slug": "group/app"},
        "labels": {"tier": "1"},
    },
    "spec": {"type": "service", "lifecycle": "production", "owner": "payments", "system": "billing"},
    "relations": [
        {"type": "ownedBy", "targetRef": "group:default/payments"},
        {"type": "dependsOn", "targetRef": "resource:default/payments-db"},
        {"type": "providesApi", "targetRef": "api:default/payments"},
    ],
}


@pytest.fixture
def backstage() -> Iterator[BackstageStandIn]:
    other = json.loads(
        json.dumps(PAYMENTS).replace("group/app", "group/other").replace("payments-api", "other")
    )
    with BackstageStandIn([other, PAYMENTS]) as server:
        yield server


def test_backstage_finds_the_component_by_its_project_slug(backstage: BackstageStandIn) -> None:
    catalog = BackstageCatalog(backstage.url, backstage.token)
    context = catalog.lookup("group/app")
    assert context is not None and context.name == "payments-api"
    assert context.owner == "group:default/payments" and context.tier == "1"
    assert context.depends_on == ("resource:default/payments-db",)
    assert "billing" in context.describe() and "api:default/payments" in context.describe()
    assert catalog.lookup("group/app") == context
    assert len(backstage.requests) == 1  # the second lookup came from the cache
    assert backstage.requests[0]["auth"] == f"Bearer {backstage.token}"


def test_lookups_are_cached_for_five_minutes_and_for_a_bounded_number_of_projects(
    backstage: BackstageStandIn,
) -> None:
    now = [0.0]
    catalog = BackstageCatalog(backstage.url, backstage.token, cache_entries=1, clock=lambda: now[0])
    assert catalog.lookup("group/app") is not None
    assert catalog.lookup("group/unknown") is None  # remembered too, and pushes group/app out
    assert catalog.lookup("group/unknown") is None
    assert len(backstage.requests) == 2
    assert catalog.lookup("group/app") is not None  # asked again: only one project fits
    assert len(backstage.requests) == 3
    now[0] = 299.0
    assert catalog.lookup("group/app") is not None
    assert len(backstage.requests) == 3
    now[0] = 301.0
    assert catalog.lookup("group/app") is not None
    assert len(backstage.requests) == 4


def test_a_wrong_token_or_an_unknown_project_means_no_context(backstage: BackstageStandIn) -> None:
    assert BackstageCatalog(backstage.url, "wrong").lookup("group/app") is None
    assert BackstageCatalog(backstage.url, backstage.token).lookup("group/unknown") is None
    assert BackstageCatalog("http://127.0.0.1:9", None, timeout=1).lookup("group/app") is None


def test_catalog_info_yaml_is_the_fallback() -> None:
    text = "apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata: {name: s}\n---\n" + json.dumps(
        PAYMENTS
    )
    context = ServiceCatalog().context(
        "group/app", lambda path: text if path == "catalog-info.yaml" else None
    )
    assert context is not None and context.source == "catalog-info.yaml" and context.system == "billing"
    assert parse_catalog_info("kind: [unclosed") is None
    assert parse_catalog_info("kind: Group\nmetadata: {name: g}\n") is None


def test_a_review_applies_the_owner_teams_policy_and_tells_the_gateway(
    backstage: BackstageStandIn, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts"
    (prompts / "teams").mkdir(parents=True)
    for template in SHIPPED_PROMPTS.glob("*.j2"):
        (prompts / template.name).write_text(template.read_text())
    (prompts / "teams" / "payments.yaml").write_text("instructions: Money is always Decimal, never float.\n")
    repo = GitRepo.create(tmp_path / "app", files={"app.py": "x = 1\n"})
    repo.commit({"app.py": "x = 1\ntotal = float(amount)\n"}, branch="feature", message="total")
    with GitLabStandIn() as gitlab, FakeGateway() as gateway:
        pid = gitlab.add_project("group/app", repo)
        iid = gitlab.open_mr(pid, "feature", title="Totals")
        settings = Settings(
            llm_base_url=gateway.base_url,
            llm_api_key="k",
            prompts_dir=prompts,
            backstage_url=backstage.url,
            backstage_token=backstage.token,
            _env_file=None,
        )
        review_merge_request(
            build_engine(settings),
            GitLabClient(gitlab.url, gitlab.token),
            ReviewRequest(pid, iid),
            catalog=build_catalog(settings),
        )
    (request,) = gateway.requests
    system, user = request.messages[0]["content"], request.messages[-1]["content"]
    assert "Money is always Decimal" in system
    assert "Service: payments-api (service); owner group:default/payments" in user
    assert request.metadata is not None and request.metadata["team"] == "group:default/payments"
