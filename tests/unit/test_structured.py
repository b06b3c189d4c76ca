"""reviewer.model.structured: the findings schema in OpenAI's strict subset of JSON Schema."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from reviewer.model.structured import strict_schema
from reviewer.review.findings import ANSWER_SCHEMA

# The schema the contract describes (DESIGN.md, Contracts), as strict mode takes it: every field
# required, end_line and suggestion nullable, category a string naming the aspect.
CONTRACT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["findings"],
    "properties": {
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "path",
                    "line",
                    "side",
                    "end_line",
                    "severity",
                    "category",
                    "title",
                    "body",
                    "suggestion",
                    "confidence",
                    "instruction",  # optional in the contract: strict mode makes it nullable
                ],
                "properties": {
                    "path": {"type": "string"},
                    "line": {"type": "integer"},
                    "side": {"type": "string", "enum": ["new", "old"]},
                    "end_line": {"type": ["integer", "null"]},
                    "severity": {"type": "string", "enum": ["critical", "high", "medium", "low", "info"]},
                    "category": {"type": "string"},
                    "title": {"type": "string"},
                    "body": {"type": "string"},
                    "suggestion": {"type": ["string", "null"]},
                    "confidence": {"type": "number"},
                    "instruction": {"type": ["string", "null"]},
                },
            },
        }
    },
}


def test_the_findings_schema_sent_to_the_model_is_the_contract() -> None:
    assert strict_schema(ANSWER_SCHEMA) == CONTRACT


def _objects(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [o for item in node for o in _objects(item)]
    if not isinstance(node, dict):
        return []
    found = [node] if node.get("type") == "object" else []
    return found + [o for value in node.values() for o in _objects(value)]


class _Inner(BaseModel):
    title: str = Field(max_length=5)
    note: str | None = None


class _Outer(BaseModel):
    kind: Literal["a", "b"] = "a"
    inner: _Inner
    more: list[_Inner] = []


def test_every_object_is_closed_with_all_its_properties_required_and_no_references() -> None:
    schema = strict_schema(_Outer.model_json_schema(mode="serialization"))

    assert "$defs" not in schema and "$ref" not in str(schema)
    objects = _objects(schema)
    assert len(objects) == 3
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert obj["required"] == list(obj["properties"])
    inner = schema["properties"]["inner"]
    assert inner["properties"] == {"title": {"type": "string"}, "note": {"type": ["string", "null"]}}
    assert schema["properties"]["kind"] == {"enum": ["a", "b"], "type": "string"}
