"""Checks of one answer: JSON schema, the synthesis validator, and the re-ask message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from goose_assets.core.llm_types import LLMRequest
from goose_assets.core.prompts import family
from goose_assets.core.synthesis.parse import (
    ParseError,
    distractor_kinds,
    parse_object,
    validation_record,
)
from goose_assets.core.synthesis.synthesis_format import (
    LEAN,
    PAPER,
    request_format,
    validate_answer,
)
from goose_assets.llm.calls.errors import Validator


def schema_problem(value: Any, schema: dict[str, Any], path: str = "$") -> str | None:
    """The first way `value` breaks `schema`, for the JSON-Schema subset our prompts use
    (type, properties, required, additionalProperties, items, minItems, maxItems, enum)."""
    expected = schema.get("type")
    type_ok = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    if isinstance(expected, str) and expected in type_ok and not type_ok[expected](value):
        return f"{path} is {type(value).__name__}, not {expected}"
    # a list of types (the lean format's nullable span and unit numbers): any one may match
    if isinstance(expected, list) and not any(t in type_ok and type_ok[t](value) for t in expected):
        return f"{path} is {type(value).__name__}, not one of {expected}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{path} not in enum"
    if isinstance(value, dict):
        props: dict[str, Any] = schema.get("properties") or {}
        missing = [k for k in schema.get("required") or [] if k not in value]
        if missing:
            return f"{path} lacks {missing}"
        if schema.get("additionalProperties") is False:
            extra = sorted(set(value) - set(props))
            if extra:
                return f"{path} has unexpected keys {extra}"
        for key, sub in props.items():
            if key in value and (problem := schema_problem(value[key], sub, f"{path}.{key}")):
                return problem
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return f"{path} has {len(value)} items, fewer than {schema['minItems']}"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{path} has more than {schema['maxItems']} items"
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                if problem := schema_problem(item, items, f"{path}[{i}]"):
                    return problem
    return None


@dataclass(slots=True)
class OutputCheck:
    """The verdict on one reply: `reason` None means usable; `repaired` means the JSON only
    parsed after repair; `schema_ok` feeds the ignored-constraint detector."""

    reason: str | None
    repaired: bool = False
    schema_ok: bool = True
    detail: str = ""
    validation: dict[str, Any] | None = None  # core.synthesis.parse.validation_record of a usable answer


def check_structure(request: LLMRequest, text: str) -> OutputCheck:
    """Does the reply parse as the request's schema? (Requests without a schema pass.)"""
    if request.json_schema is None:
        return OutputCheck(None) if text.strip() else OutputCheck("empty_response", schema_ok=True)
    if not text.strip():
        return OutputCheck("empty_response", schema_ok=False)
    try:
        obj, repaired = parse_object(text)
    except ParseError as exc:
        return OutputCheck(exc.reason, schema_ok=False, detail=exc.detail)
    if obj is None:  # an explicit empty answer: "no suitable passage"
        return OutputCheck(None, repaired)
    problem = schema_problem(obj, request.json_schema)
    if problem:
        return OutputCheck("schema_violation", repaired, schema_ok=False, detail=problem)
    return OutputCheck(None, repaired)


def synthesis_content_problem(request: LLMRequest, text: str) -> str | None:
    """The shared generation validator (answer verbatim, mask rebuilds the source, enough
    distinct distractors), for synthesis requests whose `inputs` carry `shape` and `body`.
    An explicit empty answer is accepted only for passages ("no suitable passage")."""
    return synthesis_content_check(request, text)[0]


def synthesis_content_check(request: LLMRequest, text: str) -> tuple[str | None, dict[str, Any] | None]:
    """`synthesis_content_problem`, plus the validation record of a usable answer (what
    `core.synthesis.masking.item_from_response` would compute from it: kept with the answer so that
    neither this run nor a re-run from the cache validates it twice)."""
    shape, body = request.inputs.get("shape"), request.inputs.get("body")
    if request.kind != "synthesize" or not isinstance(shape, str) or not isinstance(body, str):
        return None, None
    try:
        obj, _ = parse_object(text)
        if obj is None:
            return (None if family(shape) == "passage" else "empty_answer"), None
        span = validate_answer(obj, shape, body, request_format(request.inputs))
    except ParseError as exc:
        return exc.reason, None
    try:
        kinds = distractor_kinds(obj, span.distractors)
    except TypeError:  # unhashable distractors: the asset's own validation reports them
        return None, None
    return None, validation_record(span, kinds, shape, body)


def check_output(request: LLMRequest, text: str, validate: Validator | None) -> OutputCheck:
    """Structure first (schema), then content (the request's validator, else the default)."""
    verdict = check_structure(request, text)
    if verdict.reason is not None:
        return verdict
    if validate is None:
        reason, verdict.validation = synthesis_content_check(request, text)
    else:
        reason = validate(request, text)
    if reason is not None:
        verdict.reason = reason
        verdict.validation = None
    return verdict


def reask_messages(messages: list[dict[str, str]], bad_text: str, reason: str,
                   schema: dict[str, Any] | None, synthesis_format: str = PAPER) -> list[dict[str, str]]:
    """The conversation plus the bad reply and a corrective turn (a re-ask, not a new prompt)."""
    keys = ""
    if schema and isinstance(schema.get("properties"), dict):
        keys = " with exactly the keys " + ", ".join(f'"{k}"' for k in schema["properties"])
    why = reason.replace("_", " ")
    # the lean format has no masked text to get right: only the span (or its unit numbers)
    rule = ("The removed span must be copied verbatim from the document, or named by its first and "
            "last numbered unit where the document is numbered." if synthesis_format == LEAN else
            "The removed span must be copied verbatim from the document and the masked text must "
            "contain [MASK] exactly once.")
    correction = (
        f"Your previous reply could not be used ({why}). Reply again with exactly one JSON "
        f"object{keys}, inside <answer></answer>. {rule}"
    )
    return [*messages, {"role": "assistant", "content": bad_text[:8000]}, {"role": "user", "content": correction}]
