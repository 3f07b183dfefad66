"""Agreement statistics on a hand-computed case, through stored votes."""

from __future__ import annotations

import pytest

from labeling.selectors.quality import quality_stats
from tests.labeling.quality.qfactories import cast, join, make_project

pytestmark = pytest.mark.django_db


def test_fleiss_kappa_vote_distribution_and_budget(make_user, client):
    # min_votes 3, target 0.99: with the prior model (0.7), three agreeing votes give 0.927, so every item stays
    # open and the forecast is positive.
    project, items = make_project(slug="kappa", n_items=4, min_votes=3, max_votes=9, target=0.99)
    voters = [make_user(f"v{i}") for i in range(3)]
    join(project, [make_user("spare")])  # someone who could still answer: the items stay open (finding 14)
    table = [(0, 0, 0), (1, 1, 1), (1, 1, 1), (0, 1, 1)]
    for item, labels in zip(items, table, strict=True):
        for user, label in zip(voters, labels, strict=True):
            cast(user, item, label)
    stats = quality_stats(project=project)
    overall = stats["overall"]
    # P_i = 1, 1, 1, 1/3 -> P = 5/6; p = (1/3, 2/3) -> P_e = 5/9; kappa = (5/6 - 5/9) / (4/9) = 0.625
    assert overall.fleiss_kappa == pytest.approx(0.625, abs=1e-4)
    assert overall.vote_distribution == {"no": 4, "yes": 8}
    assert overall.votes == 12 and overall.items == 4
    assert overall.status_counts == {"open": 4}
    assert overall.budget_forecast >= 4  # at least one more vote for each of the four items
    assert len(stats["categories"]) == 1 and stats["categories"][0].fleiss_kappa == overall.fleiss_kappa
    owner = make_user("own", role="researcher")
    project.owners.add(owner)
    client.force_login(owner)
    page = client.get(f"/projects/{project.slug}/quality/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "0.625" in html and "<svg" in html and "style=" not in html and "<script>" not in html
