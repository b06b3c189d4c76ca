"""reviewer.model.aig: Cloudflare AI Gateway's cf-aig-metadata header."""

from __future__ import annotations

import json

from reviewer.model.aig import METADATA_MAX_CHARS, metadata_header


def test_metadata_header_is_a_compact_flat_json_object():
    header = metadata_header({"team": "payments", "mr": 42, "draft": False, "score": 0.5})

    assert header == '{"team":"payments","mr":42,"draft":false,"score":0.5}'


def test_metadata_header_keeps_the_first_five_entries_and_skips_none():
    metadata = {"a": 1, "skip": None, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}

    assert list(json.loads(metadata_header(metadata) or "{}")) == ["a", "b", "c", "d", "e"]


def test_metadata_header_cuts_long_strings_and_stringifies_the_rest():
    header = metadata_header({"project": "g/" + "x" * 500, "nan": float("nan"), "obj": ["list"]})  # type: ignore[dict-item]

    sent = json.loads(header or "{}")
    assert len(sent["project"]) == METADATA_MAX_CHARS
    assert sent["nan"] == "nan" and sent["obj"] == "['list']"


def test_metadata_header_is_ascii_even_for_non_ascii_values():
    header = metadata_header({"team": "équipe\nnouvelle"})

    assert header is not None and header.isascii() and "\n" not in header
    assert json.loads(header) == {"team": "équipe\nnouvelle"}


def test_metadata_header_of_nothing_is_none():
    assert metadata_header({"a": None}) is None
