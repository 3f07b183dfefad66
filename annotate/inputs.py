"""Numbers from request strings, one rule for every view: ASCII digits only, within PostgreSQL's bigint.

`str.isdigit()` is true for "²", "¹" and other Unicode digits that `int()` then refuses (a 500), and an
unbounded integer reaches the database as a DataError (another 500).
"""

from __future__ import annotations

import re

BIGINT_MAX = 2**63 - 1
_ASCII_INT = re.compile(r"-?[0-9]{1,19}")


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
