"""The review queue (HTML and API) reads a constant number of statements whatever the number of items on the
page and their voters (issue 26: 66 / 106 statements that grew with the page)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.labeling.quality.qfactories import cast, make_project

pytestmark = pytest.mark.django_db


def _queue_with(make_user, slug: str, n: int):
    project, items = make_project(slug=slug, n_items=n, min_votes=2, max_votes=2, target=0.95)
    for k, item in enumerate(items):  # 1 yes, 1 no from two annotators of its own: review, 2n distinct voters
        cast(make_user(f"{slug}-a{k}"), item, 1)
        cast(make_user(f"{slug}-b{k}"), item, 0)
    return project


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(ctx.captured_queries)


def test_review_queue_statements_do_not_grow_with_the_page(client, make_user):
    small = _queue_with(make_user, "few", 2)
    large = _queue_with(make_user, "many", 12)
    reviewer = make_user("rv", role="reviewer")
    for project in (small, large):
        project.reviewers.add(reviewer)
    client.force_login(reviewer)
    for url in ("/projects/{}/review/", "/api/projects/{}/review/"):
        few, many = _count(client, url.format("few")), _count(client, url.format("many"))
        assert few == many, (url, few, many)
    body = client.get("/api/projects/many/review/").json()
    assert len(body) == 12 and all(len(row["votes"]) == 2 for row in body)
    assert {v["user"] for row in body for v in row["votes"]} == {f"many-{s}{k}" for s in "ab" for k in range(12)}
