"""The labeling API payloads, batch answers, skips, the researcher project API and pages, the schema."""

from __future__ import annotations

import uuid

import pytest

from labeling.models import Annotation, Project, Skip, VolunteerProfile
from tests.helpers.factories import make_project_with_items

pytestmark = pytest.mark.django_db


def test_verify_payload_is_one_category_grid_with_definition(make_user, api_client):
    project, _ = make_project_with_items(slug="v", n_items=40, categories=("owl", "cat"))
    api_client.force_authenticate(make_user("v"))
    data = api_client.get(f"/api/projects/{project.slug}/next?n=3").json()  # clamped to a 12..24 grid
    assert data["task_type"] == "verify"
    assert len(data["items"]) == 12
    assert data["category"]["name"] in {"owl", "cat"} and data["category"]["definition"]
    assert {i["category_id"] for i in data["items"]} == {data["category"]["id"]}
    item = data["items"][0]
    assert set(item) == {"id", "thumbnail_url", "image_url", "width", "height", "category_id", "expires_at", "practice"}
    assert (item["width"], item["height"]) == (64, 48)
    assert item["thumbnail_url"].startswith("/media/") and item["image_url"].startswith("/media/")
    assert data["progress"] == {"today": 0, "total": 0}


def test_classify_payload_lists_categories_and_batch_answers_report_each_result(make_user, api_client):
    classify = Project.TaskType.CLASSIFY
    project, _ = make_project_with_items(slug="c", task_type=classify, n_items=5, categories=("a", "b"))
    api_client.force_authenticate(make_user("v"))
    data = api_client.get(f"/api/projects/{project.slug}/next?n=3").json()
    assert [c["name"] for c in data["categories"]] == ["a", "b"] and data["category"] is None
    a, b, c = data["items"]
    good_cat = data["categories"][0]["id"]
    answers = [
        {
            "item_id": a["id"],
            "submission_id": str(uuid.uuid4()),
            "answer": {"category": good_cat},
            "time_spent_ms": 900,
        },
        {"item_id": b["id"], "submission_id": str(uuid.uuid4()), "answer": {"category": 10**9}},
        {"item_id": c["id"], "submission_id": str(uuid.uuid4()), "answer": {"category": None}},
    ]
    response = api_client.post(f"/api/projects/{project.slug}/answers", {"answers": answers}, format="json")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["ok"] for r in results] == [True, False, True]
    assert results[1]["status"] == 400 and results[1]["code"] == "invalid_answer"
    assert response.json()["progress"]["total"] == 2
    stored = Annotation.objects.get(item_id=a["id"])
    assert stored.label == good_cat and stored.time_spent_ms == 900


def test_skip_records_and_releases(make_user, api_client):
    project, _ = make_project_with_items(slug="s", n_items=14, categories=("owl",))
    user = make_user("v")
    api_client.force_authenticate(user)
    first = api_client.get(f"/api/projects/{project.slug}/next").json()["items"][0]
    response = api_client.post(f"/api/projects/{project.slug}/skip", {"item_id": first["id"]}, format="json")
    assert response.status_code == 204
    assert Skip.objects.filter(user=user, item_id=first["id"]).exists()
    again = api_client.get(f"/api/projects/{project.slug}/next").json()["items"]
    assert first["id"] not in {i["id"] for i in again}


def test_researcher_api_create_list_detail(make_user, api_client):
    researcher = make_user("r", role="researcher")
    api_client.force_authenticate(researcher)
    body = {"slug": "birds", "task_type": "classify", "categories": [{"name": "owl"}, {"name": "tit"}], "min_votes": 2}
    response = api_client.post("/api/projects/create/", body, format="json")
    assert response.status_code == 201, response.content
    assert api_client.post("/api/projects/create/", body, format="json").status_code == 409
    assert [p["slug"] for p in api_client.get("/api/projects/owned/").json()] == ["birds"]
    detail = api_client.get("/api/projects/birds/").json()
    assert [c["name"] for c in detail["categories"]] == ["owl", "tit"]
    assert detail["items"]["total"] == 0
    volunteer = make_user("v")
    api_client.force_authenticate(volunteer)
    assert api_client.post("/api/projects/create/", {**body, "slug": "x"}, format="json").status_code == 403
    assert api_client.get("/api/projects/birds/").status_code == 404


def test_openapi_schema_documents_the_labeling_api(make_user, api_client):
    api_client.force_authenticate(make_user("v"))
    schema = api_client.get("/api/schema/?format=json").json()
    for path in ("/api/projects/{slug}/next", "/api/projects/{slug}/answers", "/api/projects/{slug}/skip"):
        assert path in schema["paths"], path
    assert "gold" not in str(schema["components"]["schemas"].get("NextItemsApiOutput", {})).lower()


def test_project_pages_create_detail_settings_people(make_user, client):
    researcher = make_user("r", role="researcher")
    make_user("helper", role="reviewer")
    client.force_login(researcher)
    assert client.get("/projects/new/").status_code == 200
    form = {"name": "Birds", "slug": "birds", "task_type": "verify", "categories": "name,definition\nowl,A bird\ntit,",
            "min_votes": 3, "max_votes": 5, "gold_rate": 0.1, "visibility": "invite"}  # fmt: skip
    response = client.post("/projects/new/", form)
    assert response.status_code == 302 and response["Location"] == "/projects/birds/"
    project = Project.objects.get(slug="birds")
    assert list(project.categories.values_list("name", "definition")) == [("owl", "A bird"), ("tit", "")]
    page = client.get("/projects/birds/").content.decode()
    assert "owl" in page and 'href="/projects/birds/label/"' in page
    settings = {"settings-name": "Birds!", "settings-instructions": "Look closely", "settings-min_votes": 2,
                "settings-max_votes": 1, "settings-confidence_target": 0.9, "settings-gold_rate": 0.1,
                "settings-qualification_size": 0, "settings-stall_hours": 24, "settings-audit_rate": 0.05,
                "settings-visibility": "public"}  # fmt: skip
    bad = client.post("/projects/birds/", settings)
    assert bad.status_code == 200 and "at least min votes" in bad.content.decode()
    client.post("/projects/birds/", {**settings, "settings-max_votes": 4})
    project.refresh_from_db()
    assert (project.name, project.max_votes, project.visibility) == ("Birds!", 4, "public")
    client.post("/projects/birds/", {"people-role": "reviewers", "people-username": "helper", "people-action": "add"})
    assert list(project.reviewers.values_list("username", flat=True)) == ["helper"]
    assert "project-list" in client.get("/projects/").content.decode()
    client.force_login(make_user("v"))
    assert client.get("/projects/birds/").status_code == 403


def test_profile_counts_and_leaderboard_opt_out(make_user, client):
    # Three items: after alice's and bob's answer one is left for alice, so the home page offers its Label link
    # (a project with nothing left shows none).
    project, _ = make_project_with_items(slug="lb", n_items=3, categories=("owl",), needed_votes=1)
    from labeling.services.annotations import annotation_submit
    from labeling.services.assignment import next_items

    alice, bob = make_user("alice"), make_user("bob")
    for user in (alice, bob):
        for item in next_items(user=user, project=project, n=1):
            annotation_submit(user=user, project=project, item_id=item.id, submission_id=uuid.uuid4(),
                              answer={"label": 1})  # fmt: skip
    client.force_login(alice)
    assert "<strong>1</strong>" in client.get("/profile/").content.decode()
    board = client.get("/projects/lb/leaderboard/").content.decode()
    assert "alice" in board and "bob" in board
    client.post("/profile/", {})  # unchecked box: opt out
    assert VolunteerProfile.objects.get(user=alice).show_on_leaderboard is False
    board = client.get("/projects/lb/leaderboard/").content.decode()
    assert "alice" not in board.split("<table")[1].split("</table>")[0] and "bob" in board
    home = client.get("/").content.decode()
    assert 'href="/projects/lb/label/"' in home
    label_page = client.get("/projects/lb/label/")
    assert label_page.status_code == 200 and b"label-config" in label_page.content
