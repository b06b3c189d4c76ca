"""Structured output (DESIGN.md, Contracts): which ``response_format`` a model is asked for.

``json_schema`` (strict) where the endpoint takes it, ``json_object`` where it answers 400 to that:
what a model refused is remembered for the life of the process. The answer is validated either way
(``reviewer.model.answers``).

OpenAI's strict mode takes a subset of JSON Schema: every object lists all its properties as
required and has ``additionalProperties: false``; an optional value is a nullable one; length and
range keywords are refused. ``strict_schema`` turns a pydantic-generated schema into that subset.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import openai

from reviewer.model.calls import Message

log = logging.getLogger(__name__)

StructuredMode = Literal["auto", "json_schema", "json_object"]


# What strict mode accepts besides the structure (type, properties, items, anyOf, enum, const...);
# titles, defaults and the length and range constraints are dropped.
_DROPPED = frozenset(
    {
        "title",
        "default",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "pattern",
        "format",
        "minItems",
        "maxItems",
        "uniqueItems",
    }
)


class StructuredOutput:
    """The ``response_format`` of each call, per configured mode and what each model refused.

    Thread-safe: one instance serves every call of a client.
    """

    def __init__(self, mode: StructuredMode) -> None:
        self._mode = mode
        self._lock = threading.Lock()
        self._json_object_models: set[str] = set()

    def response_format(
        self, model: str, json_schema: Mapping[str, Any] | None, name: str
    ) -> dict[str, Any] | None:
        if json_schema is None:
            return None
        if self._mode == "json_object" or self._uses_json_object(model):
            return {"type": "json_object"}
        return {
            "type": "json_schema",
            "json_schema": {"name": name, "strict": True, "schema": dict(json_schema)},
        }

    def may_downgrade(self, response_format: Mapping[str, Any] | None, exc: openai.APIStatusError) -> bool:
        """Whether this refusal is of the json_schema format, and the mode lets us try json_object."""
        return (
            self._mode == "auto"
            and response_format is not None
            and response_format["type"] == "json_schema"
            and _mentions_response_format(exc)
        )

    def downgrade(self, model: str) -> None:
        with self._lock:
            self._json_object_models.add(model)
        log.info("llm model=%s does not take a json_schema response_format: using json_object", model)

    def _uses_json_object(self, model: str) -> bool:
        with self._lock:
            return model in self._json_object_models


def with_json_word(messages: Sequence[Message]) -> Sequence[Message]:
    # OpenAI refuses json_object mode unless a message says "JSON"; the prompts normally do.
    if any("json" in m.get("content", "").lower() for m in messages):
        return messages
    return [*messages, {"role": "system", "content": "Answer with one JSON object."}]


def strict_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` (as pydantic writes it) in the subset OpenAI's strict mode accepts: references
    inlined, every object closed with all its properties required, constraints dropped, and a
    choice between bare types written as a list of types."""
    definitions = schema.get("$defs", {})

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, Mapping):
            return node
        if "$ref" in node:
            return convert(definitions[str(node["$ref"]).rsplit("/", 1)[-1]])
        out = {key: convert(value) for key, value in node.items() if key not in _DROPPED and key != "$defs"}
        if isinstance(node.get("properties"), Mapping):  # names there are fields, not keywords
            out["properties"] = {name: convert(value) for name, value in node["properties"].items()}
        if out.get("type") == "object":
            out["additionalProperties"] = False
            out["required"] = list(out.get("properties", {}))
        choices = out.get("anyOf")
        if isinstance(choices, list) and all(isinstance(c, dict) and set(c) == {"type"} for c in choices):
            del out["anyOf"]
            out["type"] = [c["type"] for c in choices]
        return out

    converted: dict[str, Any] = convert(schema)
    return converted


def _mentions_response_format(exc: openai.APIStatusError) -> bool:
    if exc.status_code not in (400, 422):
        return False
    if exc.param == "response_format":
        return True
    text = f"{exc.message} {exc.body}".lower()
    return "response_format" in text or "json_schema" in text
