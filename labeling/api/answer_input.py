"""The answer batch of `POST …/answers`, validated in one pass (issue 26: the hot path near its floor).

DRF's nested `AnswerSerializer(many=True)` built five Field objects' run_validation chains per answer — for a grid
of 16, most of the request's Python time outside the database. `AnswerBatchField` accepts and refuses exactly what
that serializer did, with the same error shape ({"answers": [{}, {"item_id": ["…"]}, …]}) and messages;
tests/labeling/labeling/test_answer_input.py checks it against the serializer it replaces on odd inputs.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from rest_framework import serializers
from rest_framework.settings import api_settings
from rest_framework.utils import json as drf_json

_DECIMAL_TAIL = re.compile(r"\.0*\s*$")  # DRF IntegerField: "5.0" is 5
_MAX_STRING = 1000

# DRF's own (translated) messages, so a client sees exactly what the nested serializer said.
_FIELD = serializers.Field.default_error_messages
_INT = serializers.IntegerField.default_error_messages
_LIST = serializers.ListSerializer.default_error_messages
REQUIRED = _FIELD["required"]
NOT_INT = _INT["invalid"]
NOT_UUID = serializers.UUIDField.default_error_messages["invalid"]
NOT_JSON = serializers.JSONField.default_error_messages["invalid"]


def _integer(value: Any, minimum: int) -> int:
    """What DRF's IntegerField accepts: anything whose str() is an integer, with an optional ".0" tail."""
    if isinstance(value, str) and len(value) > _MAX_STRING:
        raise ValueError(_INT["max_string_length"])
    try:
        number = int(_DECIMAL_TAIL.sub("", str(value)))
    except (ValueError, TypeError):
        raise ValueError(NOT_INT) from None
    if number < minimum:
        raise ValueError(str(_INT["min_value"]).format(min_value=minimum))
    return number


def _uuid(value: Any) -> uuid.UUID:
    try:
        if isinstance(value, uuid.UUID):
            return value
        if isinstance(value, int):
            return uuid.UUID(int=value)
        if isinstance(value, str):
            return uuid.UUID(hex=value)
    except ValueError:
        pass
    raise ValueError(NOT_UUID)


def _json(value: Any) -> Any:
    """DRF's JSONField: any value its JSON encoder can write (no NaN or infinities)."""
    try:
        drf_json.dumps(value)
    except (TypeError, ValueError):
        raise ValueError(NOT_JSON) from None
    return value


def _one(raw: Any) -> tuple[dict, dict | list]:
    if raw is None:
        return {}, [str(_FIELD["null"])]
    if not isinstance(raw, dict):
        message = str(serializers.Serializer.default_error_messages["invalid"]).format(datatype=type(raw).__name__)
        return {}, {"non_field_errors": [message]}
    out: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, parse, required, default in (
        ("item_id", lambda v: _integer(v, 1), True, None),
        ("submission_id", _uuid, True, None),
        ("answer", _json, True, None),
        ("time_spent_ms", lambda v: _integer(v, 0), False, 0),
        ("client_info", _json, False, dict),
    ):
        if name not in raw:
            if required:
                errors[name] = [str(REQUIRED)]
            else:
                out[name] = default() if callable(default) else default
            continue
        value = raw[name]
        if value is None:
            errors[name] = [str(_FIELD["null"])]
            continue
        try:
            out[name] = parse(value)
        except ValueError as exc:
            errors[name] = [str(exc.args[0])]
    return out, errors


class AnswerBatchField(serializers.Field):
    """A non-empty list of at most `max_length` answers {item_id ≥ 1, submission_id (UUID), answer (any JSON),
    time_spent_ms ≥ 0 = 0, client_info = {}}."""

    def __init__(self, *, max_length: int, **kwargs: Any) -> None:
        self.max_length = max_length
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> list[dict]:
        if not isinstance(data, list):
            message = str(_LIST["not_a_list"]).format(input_type=type(data).__name__)
            raise serializers.ValidationError({"non_field_errors": [message]})
        items = data
        if not items:
            raise serializers.ValidationError({"non_field_errors": [str(_LIST["empty"])]})
        if len(items) > self.max_length:
            message = str(_LIST["max_length"]).format(max_length=self.max_length)
            raise serializers.ValidationError({"non_field_errors": [message]})
        results, errors = zip(*(_one(raw) for raw in items), strict=True)
        if any(errors):
            if api_settings.LIST_SERIALIZER_ERRORS_AS_DICT:  # DRF's format: {index: errors} for the bad ones
                raise serializers.ValidationError({i: e for i, e in enumerate(errors) if e})
            raise serializers.ValidationError(list(errors))
        return list(results)

    def to_representation(self, value: Any) -> Any:
        return value
