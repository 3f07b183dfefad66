"""`manage.py annotator_scores --project SLUG --json`, the annotators API and page show the honest scores."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from labeling.services.quality import project_reaggregate
from tests.labeling.quality.qfactories import cast, make_project

pytestmark = pytest.mark.django_db


def status_of(project, user) -> str:
    from labeling.models import AnnotatorScore

    score = AnnotatorScore.objects.filter(project=project, user=user).first()
    return score.status if score else "new"


def test_command_api_and_page_rank_by_estimated_accuracy(make_user, api_client, client):
    project, items = make_project(slug="scores", n_items=30, min_votes=7, max_votes=7, target=0.99)
    reviewer = make_user("rv", role="reviewer")
    project.reviewers.add(reviewer)
    good, fair, spam = make_user("good"), make_user("fair"), make_user("spam")
    helpers = [make_user(f"h{i}") for i in range(3)]
    for n, item in enumerate(items):
        truth = n % 2
        cast(good, item, truth)
        cast(fair, item, truth if n % 5 else 1 - truth)  # 80 % right
        if status_of(project, spam) != "blocked":  # always "yes": right half the time, blocked online (issue 22)
            cast(spam, item, 1)
        for h in helpers:
            cast(h, item, truth if (n + h.pk) % 7 else 1 - truth)
    project_reaggregate(project_id=project.pk)

    out = io.StringIO()
    call_command("annotator_scores", "--project", project.slug, "--json", stdout=out)
    rows = json.loads(out.getvalue().strip().splitlines()[-1])
    assert set(rows[0]) >= {"user", "status", "estimated_accuracy", "gold_accuracy", "labels"}
    order = [r["user"] for r in rows]
    assert order.index("good") < order.index("fair") < order.index("spam")
    assert all(r["labels"] == 30 for r in rows if r["user"] != "spam")
    assert next(r for r in rows if r["user"] == "spam")["labels"] < 30
    assert all(r["gold_accuracy"] is None for r in rows)
    with pytest.raises(CommandError, match="No project"):
        call_command("annotator_scores", "--project", "nope", stdout=io.StringIO())

    api_client.force_authenticate(reviewer)
    api_rows = api_client.get(f"/api/projects/{project.slug}/annotators/").json()
    assert [r["username"] for r in api_rows] == order
    first = api_rows[0]
    assert first["estimated_low"] <= first["estimated_accuracy"] <= first["estimated_high"] and first["evidence"] == 30
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.slug}/annotators/").content.decode()
    assert 'data-testid="columns-explained"' in page and "Estimated accuracy (95 %)" in page
