"""Gold import through the API (file upload and JSON body) and the researcher page: the project's owners only,
a scoped 404 for everyone else (other researchers, reviewers, volunteers), per-entry results."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.models import Item
from tests.helpers.factories import make_project_with_items

pytestmark = pytest.mark.django_db

CSV = b"image,label\nowl/img0.jpg,yes\nowl/img1.jpg,perhaps\nmissing.jpg,no\n"


@pytest.fixture
def world(make_user):
    owner = make_user("owner", role="researcher")
    project, items = make_project_with_items(slug="gapi", n_items=3, categories=("owl",), owner=owner)
    return owner, project, items


def test_owner_uploads_a_csv_and_gets_every_entrys_result(world, api_client):
    owner, project, items = world
    api_client.force_authenticate(owner)
    upload = SimpleUploadedFile("gold.csv", CSV, content_type="text/csv")
    response = api_client.post(f"/api/projects/{project.slug}/gold/import", {"file": upload}, format="multipart")
    assert response.status_code == 200, response.content
    data = response.json()
    assert {k: data[k] for k in ("entries", "matched", "created", "updated", "unchanged", "unmatched")} == {
        "entries": 3, "matched": 2, "created": 1, "updated": 0, "unchanged": 0, "unmatched": 1,
    }  # fmt: skip
    assert [(e["line"], e["code"]) for e in data["errors"]] == [(3, "invalid_label"), (4, "image_not_found")]
    assert [(r["line"], r["status"], r["item_id"]) for r in data["rows"]] == [
        (2, "created", items[0].pk), (3, "error", items[1].pk), (4, "error", None),
    ]  # fmt: skip
    assert list(Item.objects.filter(is_gold=True).values_list("id", "gold_label")) == [(items[0].pk, 1)]


def test_owner_sends_entries_as_json(world, api_client):
    owner, project, items = world
    api_client.force_authenticate(owner)
    body = {"gold": [{"image": items[0].image.sha256, "label": "no"}, {"image": "owl/img1.jpg", "label": 1},
                     {"image": "owl/img2.jpg"}]}  # fmt: skip
    response = api_client.post(f"/api/projects/{project.slug}/gold/import", body, format="json")
    assert response.status_code == 200
    data = response.json()
    assert (data["created"], [e["code"] for e in data["errors"]]) == (2, ["missing_label"])
    again = api_client.post(
        f"/api/projects/{project.slug}/gold/import", {"gold": [{"image": "owl/img0.jpg", "label": "yes"}]},
        format="json",
    ).json()  # fmt: skip
    assert (again["created"], again["updated"]) == (0, 1)
    assert Item.objects.get(pk=items[0].pk).gold_label == 1


def test_bad_requests_get_the_error_shape(world, api_client):
    owner, project, _ = world
    api_client.force_authenticate(owner)
    url = f"/api/projects/{project.slug}/gold/import"
    empty = api_client.post(url, {"gold": []}, format="json")
    assert empty.status_code == 400 and empty.json()["code"] == "invalid"
    broken = api_client.post(url, {"file": SimpleUploadedFile("g.json", b"[{")}, format="multipart")
    assert broken.status_code == 400 and broken.json()["code"] == "invalid_file" and broken.json()["detail"]
    missing = api_client.post(url, {}, format="multipart")
    assert missing.status_code == 400 and missing.json()["code"] == "invalid"


@pytest.mark.parametrize("who", ["other_researcher", "reviewer_of_project", "volunteer", "member"])
def test_everyone_but_the_owner_gets_the_scoped_404(world, make_user, api_client, client, who):
    _, project, _ = world
    role = {"other_researcher": "researcher", "reviewer_of_project": "reviewer"}.get(who, "volunteer")
    user = make_user(who, role=role)
    if who == "reviewer_of_project":
        project.reviewers.add(user)
    if who == "member":
        project.members.add(user)
    api_client.force_authenticate(user)
    response = api_client.post(f"/api/projects/{project.slug}/gold/import", {"gold": [{"image": "x", "label": 1}]},
                               format="json")  # fmt: skip
    assert response.status_code == 404 and response.json()["code"] == "project_not_found"
    client.force_login(user)
    assert client.get(f"/projects/{project.slug}/gold/").status_code == 404
    upload = SimpleUploadedFile("gold.csv", CSV)
    assert client.post(f"/projects/{project.slug}/gold/", {"file": upload}).status_code == 404
    assert not Item.objects.filter(is_gold=True).exists()


def test_anonymous_users_are_refused(world, api_client, client):
    _, project, _ = world
    response = api_client.post(f"/api/projects/{project.slug}/gold/import", {"gold": [{"image": "x"}]}, format="json")
    assert response.status_code in (401, 403)
    assert client.get(f"/projects/{project.slug}/gold/").status_code == 302


def test_the_page_shows_the_form_and_a_result_row_per_entry(world, client):
    owner, project, items = world
    client.force_login(owner)
    detail = client.get(f"/projects/{project.slug}/")
    assert f'href="/projects/{project.slug}/gold/"' in detail.content.decode()
    page = client.get(f"/projects/{project.slug}/gold/")
    assert page.status_code == 200 and 'data-testid="gold-form"' in page.content.decode()
    response = client.post(f"/projects/{project.slug}/gold/", {"file": SimpleUploadedFile("gold.csv", CSV)})
    html = response.content.decode()
    assert response.status_code == 200
    assert "3 entries: 2 matched" in html and "1 created" in html and "1 unmatched" in html
    assert html.count('data-status="created"') == 1 and html.count('data-status="error"') == 2
    assert "perhaps" in html and "missing.jpg" in html
    assert Item.objects.get(pk=items[0].pk).is_gold
    broken = client.post(f"/projects/{project.slug}/gold/", {"file": SimpleUploadedFile("g.json", b"[{")})
    assert broken.status_code == 400 and "Invalid JSON" in broken.content.decode()
