"""Shared fixtures. Every test starts with no REVIEWER_* or OPENAI_* variable and no .env in its way."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from reviewer.app import redaction

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("REVIEWER_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no developer's .env is read
    yield
    redaction.install(())  # a test that ran the CLI in this process leaves its secrets behind


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
