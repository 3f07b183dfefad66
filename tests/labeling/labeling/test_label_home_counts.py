"""The volunteer's project list: the task type in full, and "left for you" counts what this volunteer can still
answer (not the project's whole backlog)."""

from __future__ import annotations

import pytest

from labeling.selectors.labeling import volunteer_projects
from tests.labeling.quality.qfactories import cast, make_project

pytestmark = pytest.mark.django_db


def test_left_for_you_counts_only_unanswered_open_items(make_user, client):
    vic, other = make_user("vic"), make_user("olga")
    project, items = make_project(slug="left", task_type="classify", categories=("a", "b"), n_items=5,
                                  min_votes=3, max_votes=5)  # fmt: skip
    for item in items[:2]:
        cast(vic, item, project.categories.first().id)
    cast(other, items[4], project.categories.first().id)
    counts = {p.slug: p.open_items for p in volunteer_projects(user=vic)}
    assert counts["left"] == 3
    assert {p.slug: p.open_items for p in volunteer_projects(user=other)}["left"] == 4
    client.force_login(vic)
    html = client.get("/").content.decode()
    assert "(Classify · 3 left for you)" in html and "…" not in html


def test_a_project_with_nothing_left_for_you_offers_no_label_button(make_user, client):
    """Issue 24: the home page listed "0 left for you" with a Label button leading to an empty page."""
    vic = make_user("vic")
    project, items = make_project(slug="left", task_type="classify", categories=("a", "b"), n_items=2,
                                  min_votes=3, max_votes=5)  # fmt: skip
    client.force_login(vic)
    assert 'data-testid="label-left"' in client.get("/").content.decode()
    for item in items:
        cast(vic, item, project.categories.first().id)
    html = client.get("/").content.decode()
    assert "(Classify · nothing left for you for now)" in html
    assert "0 left for you" not in html and 'data-testid="label-left"' not in html
