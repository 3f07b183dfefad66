"""AnswerBatchField accepts, refuses and reports exactly what the nested DRF serializer it replaced did."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from labeling.api.answer_input import AnswerBatchField
from labeling.api.labeling import SubmitAnswersApi

MAX = 24


class Reference(serializers.Serializer):
    """The serializer SubmitAnswersApi used before (issue 26), kept here as the specification."""

    class AnswerSerializer(serializers.Serializer):
        item_id = serializers.IntegerField(min_value=1)
        submission_id = serializers.UUIDField()
        answer = serializers.JSONField()
        time_spent_ms = serializers.IntegerField(min_value=0, default=0)
        client_info = serializers.JSONField(required=False, default=dict)

    answers = AnswerSerializer(many=True, allow_empty=False, max_length=MAX)


class Fast(serializers.Serializer):
    answers = AnswerBatchField(max_length=MAX)


def _both(data):
    ref, fast = Reference(data=data), Fast(data=data)
    ok_ref, ok_fast = ref.is_valid(), fast.is_valid()
    assert ok_ref == ok_fast, (data, ref.errors, fast.errors)
    if ok_ref:
        assert [dict(a) for a in ref.validated_data["answers"]] == fast.validated_data["answers"]
    else:
        assert _plain(ref.errors) == _plain(fast.errors), (data, ref.errors, fast.errors)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value)


GOOD = {"item_id": 7, "submission_id": str(uuid.UUID(int=5)), "answer": {"label": 1}}
ODD_VALUES = [None, True, False, 0, -1, 1, 2**70, 1.0, 1.5, float("inf"), "", " 3 ", "3.0", "3.00 ", "x", "1e3",
              "9" * 1001, [], [1], {}, {"a": 1}, str(uuid.UUID(int=9)), uuid.UUID(int=9).hex, 12345]  # fmt: skip


def test_the_cases_that_matter():
    _both({"answers": [GOOD]})
    _both({"answers": [GOOD] * 3})
    _both({"answers": []})
    _both({"answers": [GOOD] * (MAX + 1)})
    _both({"answers": GOOD})
    _both({"answers": "x"})
    _both({"answers": None})
    _both({})
    _both({"answers": [GOOD, 5, "x", None, []]})
    for key in GOOD:
        _both({"answers": [GOOD, {k: v for k, v in GOOD.items() if k != key}]})
    for key in ("item_id", "submission_id", "answer", "time_spent_ms", "client_info"):
        for value in ODD_VALUES:
            _both({"answers": [{**GOOD, key: value}, GOOD]})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
answer = st.fixed_dictionaries(
    {},
    optional={"item_id": json_values | st.integers(-3, 10**6), "submission_id": json_values | st.uuids().map(str),
              "answer": json_values, "time_spent_ms": json_values, "client_info": json_values},
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(answer | json_values, max_size=4))
def test_random_batches_match_the_reference(batch):
    _both({"answers": batch})


def test_the_api_uses_it():
    assert isinstance(SubmitAnswersApi.InputSerializer().fields["answers"], AnswerBatchField)
