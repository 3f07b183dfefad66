"""Query budgets of the vote's hot path (Zulip's `queries_captured` habit): the exact number of statements for
a grid of 16 (`next_items`), a submit of 1 and a submit of 16 (`annotations_submit_batch`), so that a
regression fails CI. Targets (issue 13): next <= 6, submit of 16 <= 12. Counts include the savepoint pair of
the test's own transaction around each service call (a request in autocommit does not pay them)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labeling.services.annotations import annotations_submit_batch
from labeling.services.assignment import next_items
from tests.helpers.factories import make_project_with_items

pytestmark = pytest.mark.django_db

GRID = 16
SAVEPOINTS = 2  # the test's transaction turns the service's own into a savepoint pair
# context (blocked, held?, history), category peek, lock of both queues, lease upsert with the re-count
NEXT_QUERIES = 4 + SAVEPOINTS
# a reload while the user holds a full grid: context, the held leases, their renewal (the same upsert)
RELOAD_QUERIES = 3 + SAVEPOINTS
# lock the items, the user's answers / the submission ids, leases, score row (blocked?), INSERT the answers,
# the items' votes, score save, the live statistics' upsert (issue 22: one INSERT … ON CONFLICT … RETURNING that
# adds the batch's counts in the database, so a spammer is seen at once), snapshot version, whether anyone
# eligible is left for the items that stay open (issue 22, finding 14: no_annotator in the vote's own
# transaction), UPDATE … FROM (VALUES …) of the items, DELETE the leases
SUBMIT_QUERIES = 12 + SAVEPOINTS  # the same on SQLite (>= 3.35) and PostgreSQL: annotate.db issues one INSERT on both


def _answers(items, label=1):
    return [{"item_id": i.pk, "submission_id": uuid.uuid4(), "answer": {"label": label}} for i in items]


@pytest.fixture
def crowd(make_user):
    """A verify project (one category, so a grid fills up); the volunteer has a history. No gold: a gold answer
    may change its author's status (two more statements, once in a while), which would make the count depend
    on where the gold landed in the grid; gold answers are counted in test_quality_practice."""
    project, _ = make_project_with_items(slug="budget", n_items=80, categories=("owl",))
    user = make_user("v")
    first = next_items(user=user, project=project, n=GRID)
    annotations_submit_batch(user=user, project=project, answers=_answers(first))
    return project, user


def _count(fn):
    with CaptureQueriesContext(connection) as ctx:
        result = fn()
    return ctx, result


def _sql(ctx) -> str:
    return "\n".join(q["sql"][:160] for q in ctx.captured_queries)


def test_budget_next_grid_of_16(crowd):
    project, user = crowd
    ctx, items = _count(lambda: next_items(user=user, project=project, n=GRID))
    assert len(items) == GRID
    assert len(ctx) == NEXT_QUERIES, _sql(ctx)


def test_budget_next_reload_of_a_held_grid(crowd):
    project, user = crowd
    first = next_items(user=user, project=project, n=GRID)
    ctx, items = _count(lambda: next_items(user=user, project=project, n=GRID))
    assert [i.pk for i in items] == [i.pk for i in first]  # the same work, not new items
    assert len(ctx) == RELOAD_QUERIES, _sql(ctx)


def test_budget_submit_of_1(crowd):
    project, user = crowd
    items = next_items(user=user, project=project, n=GRID)
    ctx, results = _count(lambda: annotations_submit_batch(user=user, project=project, answers=_answers(items[:1])))
    assert [r["ok"] for r in results] == [True]
    assert len(ctx) == SUBMIT_QUERIES, _sql(ctx)


def test_budget_submit_of_16(crowd):
    project, user = crowd
    items = next_items(user=user, project=project, n=GRID)
    ctx, results = _count(lambda: annotations_submit_batch(user=user, project=project, answers=_answers(items)))
    assert all(r["ok"] and r["created"] for r in results)
    assert len(ctx) == SUBMIT_QUERIES, _sql(ctx)  # the same statements as for one answer
