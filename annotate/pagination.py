"""API pagination: DRF's limit/offset with bounds (an offset past PostgreSQL's bigint was a DataError, a 500)."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

from annotate.inputs import ascii_int

MAX_OFFSET = 10_000_000


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = 1000

    def get_offset(self, request: Any) -> int:
        raw = request.query_params.get(self.offset_query_param)
        if raw is None or raw == "":
            return 0
        offset = ascii_int(raw, minimum=0, maximum=MAX_OFFSET)
        if offset is None:
            raise ValidationError({self.offset_query_param: [f"A whole number from 0 to {MAX_OFFSET}."]})
        return offset

    def get_limit(self, request: Any) -> int | None:
        raw = request.query_params.get(self.limit_query_param)
        if raw is None or raw == "":
            return self.default_limit
        limit = ascii_int(raw, minimum=1, maximum=self.max_limit)
        if limit is None:
            raise ValidationError({self.limit_query_param: [f"A whole number from 1 to {self.max_limit}."]})
        return limit
