"""The one parser of request parameters (query strings and plain form fields), for every view, HTML and API alike.

`str.isdigit()` is true for "²", "¹" and other Unicode digits that `int()` then refuses (a 500), an unbounded
integer reaches the database as a DataError (another 500), and a NUL in a text reaches PostgreSQL as an error
(a third). Every view reads its parameters through these functions instead of writing its own `_int`:

- `ModelIdsField`: a form's multiple choice of model ids, each through `ascii_int` before the query;
- `ascii_int(value)`: the low-level rule (ASCII digits, within bigint), None when the value breaks it;
- `param_int`, `param_float`, `param_bool`, `param_enum`, `param_text`, `param_ids`: read one parameter of a
  mapping (a QueryDict, DRF's `query_params`, `request.POST`, a dict). Missing or empty gives the default; a
  value that is present but wrong raises `InvalidParam` (a ServiceError: 400 with code `invalid_query` in the
  API), unless the caller passes `lenient=True` (then the default, for parameters like `page` where a stale
  link should still show a page). A repeated parameter (`?page=1&page=2`) is read as its last value, like
  Django does; a list or dict value (a JSON body) is refused.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from django import forms
from django.core.exceptions import ValidationError

from annotate.exceptions import ServiceError

BIGINT_MAX = 2**63 - 1
INT_MAX = 2**31 - 1  # an IntegerField / PositiveIntegerField column
MAX_TEXT_PARAM = 500  # characters of one free-text parameter (usernames, search words)
MAX_IDS = 1000  # ids in one comma-separated parameter
_ASCII_INT = re.compile(r"-?[0-9]{1,19}")
_ASCII_FLOAT = re.compile(r"-?[0-9]{1,20}(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,3})?")
T = TypeVar("T")


class InvalidParam(ServiceError):
    """A request parameter that is present but malformed or out of range (400, code invalid_query)."""

    code = "invalid_query"


def ascii_int(value: object, *, minimum: int | None = None, maximum: int = BIGINT_MAX) -> int | None:
    """`int(value)` when `value` is a string of ASCII digits (an optional leading '-') in [minimum, maximum];
    None otherwise (the caller decides whether that is a 400, a 404 or "not given")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _ASCII_INT.fullmatch(value):
        number = int(value)
    else:
        return None
    if number > maximum or (minimum is not None and number < minimum) or number < -BIGINT_MAX:
        return None
    return number


def _raw(params: Mapping[str, Any], name: str) -> str | None:
    """The parameter's text, stripped; None when missing or empty. A list/dict (JSON body) is refused."""
    try:
        value = params.get(name)
    except (TypeError, AttributeError):
        value = None
    if value is None:
        return None
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidParam(f"{name} must be a single value.")
    value = value.strip()
    return value or None


def _fail(name: str, message: str, lenient: bool, default: T) -> T:
    if lenient:
        return default
    raise InvalidParam(f"{name} {message}.")


def param_int(params: Mapping[str, Any], name: str, *, default: Any = None, minimum: int | None = None,
              maximum: int = BIGINT_MAX, lenient: bool = False) -> Any:  # fmt: skip
    """An ASCII integer in [minimum, maximum]; `default` when missing (or, lenient, when bad)."""
    try:
        raw = _raw(params, name)
    except InvalidParam:
        if lenient:
            return default
        raise
    if raw is None:
        return default
    number = ascii_int(raw, minimum=minimum, maximum=maximum)
    if number is None:
        low = f"{minimum}" if minimum is not None else f"{-BIGINT_MAX}"
        return _fail(name, f"must be a whole number from {low} to {maximum}", lenient, default)
    return number


def param_float(params: Mapping[str, Any], name: str, *, default: Any = None, minimum: float = -math.inf,
                maximum: float = math.inf, lenient: bool = False) -> Any:  # fmt: skip
    """A finite decimal number (ASCII, no "nan"/"inf") in [minimum, maximum]."""
    raw = _raw(params, name)
    if raw is None:
        return default
    value = float(raw) if _ASCII_FLOAT.fullmatch(raw) else math.nan
    if not (math.isfinite(value) and minimum <= value <= maximum):
        return _fail(name, f"must be a number between {minimum:g} and {maximum:g}", lenient, default)
    return value


YES_NO = {"yes": True, "true": True, "1": True, "on": True, "no": False, "false": False, "0": False, "off": False}


def param_bool(params: Mapping[str, Any], name: str, *, default: Any = None, any_words: Iterable[str] = ("any",),
               lenient: bool = False) -> Any:  # fmt: skip
    """yes/no, true/false, 1/0, on/off; `default` when missing or one of `any_words`."""
    raw = _raw(params, name)
    if raw is None or raw.lower() in any_words:
        return default
    if raw.lower() not in YES_NO:
        return _fail(name, "must be yes or no", lenient, default)
    return YES_NO[raw.lower()]


def param_enum(params: Mapping[str, Any], name: str, choices: Iterable[str], *, default: Any = None,
               lenient: bool = False) -> Any:  # fmt: skip
    """One of `choices` (exact); `default` when missing."""
    allowed = list(choices)
    raw = _raw(params, name)
    if raw is None:
        return default
    if raw not in allowed:
        return _fail(name, f"must be one of {', '.join(allowed)}", lenient, default)
    return raw


def text_clean(value: str, *, name: str, max_length: int = MAX_TEXT_PARAM) -> str:
    """`value` when it holds no NUL or other control character (PostgreSQL text cannot hold NUL) and is at most
    `max_length` characters; InvalidParam otherwise. Tabs and line breaks are allowed (free text)."""
    if len(value) > max_length:
        raise InvalidParam(f"{name} is longer than {max_length} characters.")
    if any(unicodedata.category(c) == "Cc" and c not in "\t\r\n" for c in value):
        raise InvalidParam(f"{name} contains control characters.")
    return value


def param_text(params: Mapping[str, Any], name: str, *, default: Any = None, max_length: int = MAX_TEXT_PARAM,
               lenient: bool = False) -> Any:  # fmt: skip
    """A free text without control characters, at most `max_length` characters; `default` when missing."""
    raw = _raw(params, name)
    if raw is None:
        return default
    try:
        return text_clean(raw, name=name, max_length=max_length)
    except InvalidParam:
        if lenient:
            return default
        raise


def param_ids(params: Mapping[str, Any], name: str, *, max_count: int = MAX_IDS, lenient: bool = False) -> list[int]:
    """Positive ids, comma-separated in one parameter and/or repeated (`?item=1&item=2`), distinct, in order."""
    values: list[Any]
    getlist = getattr(params, "getlist", None)
    values = list(getlist(name)) if getlist is not None else [params.get(name)]
    out: dict[int, None] = {}
    for value in values:
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            parts = [str(value)]
        elif isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
        else:
            if lenient:
                continue
            raise InvalidParam(f"{name} must be ids separated by commas.")
        for part in parts:
            number = ascii_int(part, minimum=1)
            if number is None:
                if lenient:
                    continue
                raise InvalidParam(f"{name} must be ids separated by commas.")
            out[number] = None
            if len(out) > max_count:
                if lenient:
                    return list(out)[:max_count]
                raise InvalidParam(f"{name} holds more than {max_count} ids.")
    return list(out)


class ModelIdsField(forms.ModelMultipleChoiceField):
    """A ModelMultipleChoiceField whose values go through `ascii_int` before the query: an id past bigint ("9" * 25)
    reached the database (SQLite: OverflowError, PostgreSQL: DataError), a 500; now it is "not a valid value"."""

    def _check_values(self, value: Iterable[Any]) -> Any:
        for pk in value:
            if ascii_int(pk.strip() if isinstance(pk, str) else pk, minimum=1) is None:
                raise ValidationError(
                    self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": pk}
                )
        return super()._check_values(value)
