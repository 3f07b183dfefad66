"""Issue 27: a marketplace (Prolific / MTurk hand-off) account is scoped to the project it arrived for. Another
public project is not in its project list (API, home page), its label page and `next` are a 404; an ordinary
volunteer still sees every public project. One rule: labeling.selectors.projects.projects_for_volunteer."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from crowdpay.models import MarketplaceSession
from crowdpay.services.policy import pay_policy_set
from labeling.selectors.projects import projects_for_volunteer
from tests.helpers.factories import make_project_with_items

pytestmark = pytest.mark.django_db


def test_marketplace_account_sees_only_the_project_it_arrived_for(make_user, client):
    paid, _ = make_project_with_items(slug="paid", n_items=6)
    other, _ = make_project_with_items(slug="other-public", n_items=6)
    pay_policy_set(project=paid, reward_cents=10, prolific_enabled=True)
    response = client.get("/p/paid/start/?PROLIFIC_PID=w0rker1&STUDY_ID=st1&SESSION_ID=se1")
    assert response.status_code == 302
    worker = MarketplaceSession.objects.get(worker_id="w0rker1").user

    assert [p.slug for p in projects_for_volunteer(worker)] == ["paid"]
    api = APIClient()
    api.force_authenticate(worker)
    assert [p["slug"] for p in api.get("/api/projects/").json()] == ["paid"]
    assert api.get(f"/api/projects/{other.slug}/next?n=3").status_code == 404
    assert api.get(f"/api/projects/{paid.slug}/next?n=3").status_code == 200
    assert client.get(f"/projects/{other.slug}/label/").status_code == 404
    assert client.get(f"/projects/{paid.slug}/label/").status_code == 200
    assert "other-public" not in client.get("/").content.decode()

    volunteer = make_user("ordinary")  # the rule only scopes marketplace accounts
    assert {p.slug for p in projects_for_volunteer(volunteer)} == {"paid", "other-public"}


def test_study_url_of_a_project_without_marketplace_workers_is_a_404(client):
    """Only a project that takes marketplace workers has a study URL; another (here invite-only) is a 404 that
    does not name it, with or without marketplace parameters."""
    hidden, _ = make_project_with_items(slug="hidden", n_items=2, visibility="invite")
    hidden.name = "Hidden SECRETNAME"
    hidden.save(update_fields=["name"])
    for query in ("", "?PROLIFIC_PID=w0rker2&STUDY_ID=st1&SESSION_ID=se1"):
        response = client.get(f"/p/hidden/start/{query}")
        assert response.status_code == 404 and b"SECRETNAME" not in response.content
    assert not MarketplaceSession.objects.exists()
