"""API: create/list/detail versions, exports with status and a streamed download; scoping and errors."""

import io
import tarfile

import pytest
from django.test import Client

from labeling.models import DatasetExport
from labeling.services.datasets import dataset_version_create
from labeling.services.exports import dataset_export_request, dataset_export_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for(api_client):
    def login(user):
        api_client.force_authenticate(user)
        return api_client

    return login


def test_create_list_detail_and_diff(classify_project, researcher, client_for):
    c = client_for(researcher)
    res = c.post(
        "/api/projects/pets/datasets/create/", {"split": [0.5, 0.25, 0.25], "seed": 3, "name": "first"}, format="json"
    )
    assert res.status_code == 201, res.data
    v1 = res.data
    assert v1["items_count"] == 24 and v1["split"] == [0.5, 0.25, 0.25] and v1["stats"]["classes"] == 3
    res = c.post("/api/projects/pets/datasets/create/", {"min_posterior": 0.95}, format="json")
    assert res.status_code == 201 and res.data["items_count"] == 0
    listing = c.get("/api/projects/pets/datasets/").data
    assert [v["number"] for v in listing] == [2, 1]
    detail = c.get(f"/api/datasets/{v1['id']}/").data
    assert "Known limitations" in detail["card"] and detail["exports"] == []
    diff = c.get(f"/api/datasets/{v1['id']}/diff/{res.data['id']}/").data
    assert diff["removed"] == 24 and diff["added"] == 0 and diff["same_content"] is False


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"split": [0.5, 0.6, 0.1]}, "invalid_split"),
        ({"split": [1, 0]}, "invalid"),
        ({"min_posterior": 2}, "invalid"),
        ({"categories": [987654]}, "invalid_categories"),
        ({"seed": "x"}, "invalid"),
    ],
)
def test_create_bad_input_is_a_clear_400(classify_project, researcher, client_for, body, code):
    res = client_for(researcher).post("/api/projects/pets/datasets/create/", body, format="json")
    assert res.status_code == 400 and res.data["code"] == code and res.data["detail"]


def test_export_status_and_streamed_download(
    classify_project, researcher, client_for, django_capture_on_commit_callbacks
):
    v = dataset_version_create(project=classify_project)
    c = client_for(researcher)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        res = c.post(f"/api/datasets/{v.id}/exports/", {"format": "imagefolder"}, format="json")
    assert res.status_code == 202 and res.data["status"] == "queued" and res.data["download_url"] is None
    assert len(callbacks) == 1  # enqueued after commit
    export_id = res.data["id"]
    early = c.get(f"/api/exports/{export_id}/download/")
    assert early.status_code == 409 and early.data["code"] == "export_not_ready"
    dataset_export_run(export_id=export_id)
    status = c.get(f"/api/exports/{export_id}/").data
    assert status["status"] == "done" and status["progress"] == 1.0 and status["items_count"] == 24
    res = c.get(status["download_url"])
    assert res.status_code == 200 and res.streaming
    assert res["Content-Disposition"] == 'attachment; filename="pets-v1-imagefolder.tar"'
    body = b"".join(res.streaming_content)
    assert len(body) == status["size"]
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert "classes.json" in tar.getnames()
    again = c.post(f"/api/datasets/{v.id}/exports/", {"format": "imagefolder"}, format="json")
    assert again.data["id"] == export_id
    bad = c.post(f"/api/datasets/{v.id}/exports/", {"format": "../../x"}, format="json")
    assert bad.status_code == 400 and bad.data["code"] == "invalid"


def test_other_researcher_gets_404_everywhere(classify_project, make_user, client_for):
    v = dataset_version_create(project=classify_project)
    export = dataset_export_run(export_id=dataset_export_request(version=v, fmt="csv", enqueue=False).id)
    other = make_user("oscar", role="researcher")
    c = client_for(other)
    for method, url in [("get", "/api/projects/pets/datasets/"), ("post", "/api/projects/pets/datasets/create/"),
                        ("get", f"/api/datasets/{v.id}/"), ("post", f"/api/datasets/{v.id}/exports/"),
                        ("get", f"/api/exports/{export.id}/"), ("get", f"/api/exports/{export.id}/download/"),
                        ("get", f"/api/datasets/{v.id}/diff/{v.id}/")]:  # fmt: skip
        res = getattr(c, method)(url, {"format": "csv"} if method == "post" else None, format="json")
        assert res.status_code == 404, (url, res.status_code)
        assert res.data["code"] == "not_found"
    volunteer = make_user("vic")
    assert client_for(volunteer).get(f"/api/datasets/{v.id}/").status_code == 403
    assert DatasetExport.objects.count() == 1
    # HTML pages are scoped the same way
    html = Client()
    html.force_login(other)
    assert html.get(f"/datasets/{v.id}/").status_code == 404
    assert html.get("/projects/pets/datasets/").status_code == 404
    assert html.post(f"/datasets/{v.id}/export/", {"format": "csv"}).status_code == 404
