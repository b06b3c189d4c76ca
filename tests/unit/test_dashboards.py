"""The observability profile of docker/: the Grafana dashboard loads and queries only metrics the bot
exports (checked against a scrape of the intake's /metrics), Prometheus scrapes the intake and every
worker, and the compose file keeps Prometheus, Grafana and Flower behind their profile."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

import reviewer.app.review_metrics  # noqa: F401  (every module that defines or counts metrics)
from reviewer.app.events import ReviewJob
from reviewer.app.web import create_app

DOCKER = Path(__file__).resolve().parents[2] / "docker"
DASHBOARD = DOCKER / "grafana" / "dashboards" / "reviewer.json"
# What Grafana puts in place of its variables before a query reaches Prometheus.
GRAFANA_VARIABLES = {"__rate_interval": "1m", "__range": "24h", "__interval": "15s", "team": ".*"}
# The families the issue asks the dashboard to show.
REQUIRED = {
    "reviewer_reviews",  # by outcome and tier
    "reviewer_queue_wait_seconds",
    "reviewer_review_seconds",
    "reviewer_llm_calls",  # by model
    "reviewer_llm_tokens",  # by team
    "reviewer_llm_model_tokens",  # by model
    "reviewer_llm_cost_usd",  # by team
    "reviewer_llm_model_cost_usd",  # by model
    "reviewer_finding_feedback",  # acceptance rate
    "reviewer_review_failures",
    "reviewer_overrides",
}
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
}


class _Deliveries:
    def first_time(self, key: str) -> bool:
        return True

    def forget(self, key: str) -> None:
        pass


def _no_queue(job: ReviewJob, key: str) -> str:
    raise AssertionError("nothing is delivered here")


@pytest.fixture(scope="module")
def exported() -> dict[str, str]:
    """Series name -> its family, as a Prometheus scrape of the intake's /metrics names them."""
    scrape = TestClient(create_app(("secret",), _no_queue, _Deliveries())).get("/metrics")
    assert scrape.status_code == 200
    names: dict[str, str] = {}
    for family in text_string_to_metric_families(scrape.text):
        for suffix in _SUFFIXES.get(family.type, ("",)):
            names[family.name + suffix] = family.name
    return names


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded = json.loads(DASHBOARD.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row holds its panels


def _queries(dashboard: dict[str, Any]) -> Iterator[str]:
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            yield target["expr"]


def _metric_names(query: str) -> set[str]:
    """The metric name of every selector of a PromQL query, read by a PromQL parser."""
    text = re.sub(r"\$\{?(\w+)\}?", lambda m: GRAFANA_VARIABLES[m.group(1)], query)
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            names.add(node.name or "<a selector without a metric name>")
        for attribute in ("expr", "lhs", "rhs", "param", "vector_selector"):
            child = getattr(node, attribute, None)
            if child is not None and not isinstance(child, str | int | float):
                walk(child)
        for child in getattr(node, "args", None) or ():
            walk(child)

    walk(promql_parser.parse(text))
    return names


def test_the_dashboard_has_what_grafana_needs(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    panels = list(_panels(dashboard))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert {"type", "title", "gridPos"} <= set(panel), panel.get("title")
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= set(grid) and grid["x"] + grid["w"] <= 24
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["type"] == "prometheus"
        assert panel["targets"], panel["title"]
        assert all(target["expr"].strip() and target["refId"] for target in panel["targets"])
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == ("datasource", "prometheus")


def test_every_query_names_only_metrics_the_bot_exports(
    dashboard: dict[str, Any], exported: dict[str, str]
) -> None:
    used: set[str] = set()
    for query in _queries(dashboard):
        names = _metric_names(query)
        assert names, query
        assert names <= set(exported), f"{sorted(names - set(exported))} in {query}"
        used |= names
    variables = [v for v in dashboard["templating"]["list"] if v["type"] == "query"]
    for variable in variables:
        metric = re.fullmatch(r"label_values\((\w+),\s*\w+\)", variable["definition"])
        assert metric and metric.group(1) in exported
    assert {exported[name] for name in used} >= REQUIRED


def test_a_query_naming_a_metric_the_bot_lacks_is_caught(exported: dict[str, str]) -> None:
    query = 'sum by (team) (rate(reviewer_llm_cost_dollars_total{team=~"$team"}[$__rate_interval]))'
    names = _metric_names(query)
    assert names == {"reviewer_llm_cost_dollars_total"} and not names <= set(exported)
    assert "reviewer_reviews" not in exported  # a counter is only queried with its _total suffix


def test_the_compose_file_keeps_the_observability_services_behind_their_profile() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    observability = {name for name, s in services.items() if "observability" in s.get("profiles", [])}
    assert observability == {"prometheus", "grafana", "flower"}
    assert all(not services[name].get("profiles") for name in ("redis", "web", "worker"))
    assert services["worker"]["environment"]["REVIEWER_METRICS_PORT"] == "9101"
    for source in [m for s in services.values() for m in s.get("volumes", []) if m.startswith("./")]:
        assert (DOCKER / source.split(":")[0]).exists(), source  # every bind mount is in docker/
    broker = services["flower"]["environment"]["CELERY_BROKER_URL"]
    assert broker == services["worker"]["environment"]["REVIEWER_REDIS_URL"]


def test_prometheus_scrapes_the_intake_and_every_worker() -> None:
    config = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    intake = jobs["reviewer-intake"]
    assert intake["metrics_path"] == "/metrics" and intake["static_configs"][0]["targets"] == ["web:8080"]
    (workers,) = jobs["reviewer-worker"]["dns_sd_configs"]  # every replica of the worker service
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert workers["names"] == ["worker"] and "worker" in compose["services"]
    assert str(workers["port"]) == compose["services"]["worker"]["environment"]["REVIEWER_METRICS_PORT"]
    assert compose["services"]["web"]["ports"] == ["8080:8080"]


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard() -> None:
    provisioning = DOCKER / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "reviewer.yaml").read_text())["providers"]
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    mounted = dict(m.split(":")[:2] for m in compose["services"]["grafana"]["volumes"] if m.startswith("./"))
    assert mounted["./grafana/dashboards"] == provider["options"]["path"]
    assert mounted["./grafana/provisioning"] == "/etc/grafana/provisioning"
