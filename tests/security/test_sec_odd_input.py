"""Odd input is a clean 4xx in the API's JSON shape, never a 500 (issue 17, findings 6 and 8).

Each case reproduces what the probe found: deep JSON nesting (RecursionError), an offset past bigint
(DataError), Unicode digits that pass `isdigit()` and then crash `int()`, 30,000 categories in one
request, Django's own HTML error pages under /api/, a digits-only slug read as a primary key, and an
unthrottled sign-up.
"""

from __future__ import annotations

import time

import pytest
from django.test import Client
from rest_framework.test import APIClient

NESTED = "[" * 5000 + "]" * 5000
HUGE = "9223372036854775808"  # 2**63: one past PostgreSQL's bigint


def _api(world, role: str) -> APIClient:
    client = APIClient()
    if role != "anonymous":
        client.force_authenticate(world.person(role))
    return client


def _json_error(response, status: int | tuple[int, ...]) -> dict:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    import json

    body = json.loads(response.content)
    assert isinstance(body.get("detail"), str) and isinstance(body.get("code"), str), body
    return body


@pytest.mark.parametrize(
    ("role", "path"),
    [("anonymous", "/api/auth/token/"), ("researcher", "/api/projects/create/"),
     ("volunteer", "/api/projects/proj-a/answers")],
)  # fmt: skip
def test_deeply_nested_json_is_a_400(world, role, path):
    response = _api(world, role).post(path, NESTED, content_type="application/json")
    assert _json_error(response, 400)["code"] == "parse_error"


def test_nesting_inside_strings_does_not_count(world):
    body = '{"username": "' + "[" * 100 + '", "password": "x"}'
    response = _api(world, "anonymous").post("/api/auth/token/", body, content_type="application/json")
    assert _json_error(response, 400)["code"] == "invalid_credentials"


@pytest.mark.parametrize("query", [f"offset={HUGE}", f"category={HUGE}", f"batch={HUGE}", "limit=0", "offset=-1",
                                   "category=%C2%B2", "offset=%C2%B9"])  # fmt: skip
def test_out_of_range_and_unicode_numbers_in_api_queries_are_a_400(world, query):
    response = _api(world, "researcher").get(f"/api/projects/proj-a/images/?{query}")
    _json_error(response, 400)


@pytest.mark.parametrize("path", [f"/api/ingest/batches/{HUGE}/", f"/api/datasets/{HUGE}/", f"/api/exports/{HUGE}/"])
def test_a_primary_key_past_bigint_in_an_api_path_is_a_4xx(world, path):
    _json_error(_api(world, "researcher").get(path), (400, 404))


def test_a_primary_key_past_bigint_in_an_html_path_is_a_4xx(world, client_as):
    response = client_as("researcher").get(f"/ingest/batches/{HUGE}/")
    assert 400 <= response.status_code < 500


def test_unicode_digits_in_html_forms_and_queries_are_not_a_500(world, client_as):
    researcher = client_as("researcher")
    assert researcher.get("/projects/proj-a/images/?category=%C2%B2&batch=%C2%B9").status_code == 200
    deleted = researcher.post("/projects/proj-a/categories/", {"action": "delete", "pk": "x"})
    assert deleted.status_code == 404
    deleted = researcher.post("/projects/proj-a/categories/", {"action": "delete", "pk": "²"})
    assert deleted.status_code == 404
    item = world.a.objects["item"]
    fixed = client_as("reviewer").post(f"/projects/proj-a/review/{item.pk}/", {"action": "fix", "label": "¹"})
    assert fixed.status_code == 302  # back to the queue with "Pick a label"


def test_django_error_pages_under_api_are_json(world, rf):
    from annotate.exceptions import bad_request, server_error

    assert _json_error(_api(world, "researcher").get("/api/no-such-endpoint/"), 404)["code"] == "not_found"
    assert _json_error(APIClient().get("/api/no-such-endpoint/"), 404)["code"] == "not_found"
    # Django calls these for errors outside DRF's views (a body it refuses, an exception DRF passes on).
    assert _json_error(bad_request(rf.get("/api/x/")), 400)["code"] == "bad_request"
    assert _json_error(server_error(rf.get("/api/x/")), 500)["code"] == "internal_error"
    assert server_error(rf.get("/projects/")).status_code == 500  # HTML elsewhere
    assert not server_error(rf.get("/projects/"))["Content-Type"].startswith("application/json")


def _categories(n: int) -> list[dict]:
    return [{"name": f"class {i:05d}", "parent": f"class {i // 10:05d}" if i >= 10 else None} for i in range(n)]


def test_too_many_categories_is_a_400_at_once(world):
    from labeling.services.projects import MAX_CATEGORIES

    started = time.monotonic()
    body = {"slug": "too-many", "task_type": "classify", "categories": [{"name": f"c{i}"} for i in range(30_000)]}
    response = _api(world, "researcher").post("/api/projects/create/", body, format="json")
    _json_error(response, 400)
    assert time.monotonic() - started < 15
    assert MAX_CATEGORIES < 30_000


@pytest.mark.slow
def test_the_largest_allowed_project_is_created_in_a_few_queries(world, django_assert_max_num_queries):
    """30,000 categories ran 30 s (one upsert each) and the worker was killed; the cap is created in bulk."""
    from labeling.models import Project
    from labeling.services.projects import MAX_CATEGORIES

    body = {"slug": "big-tree", "task_type": "classify", "categories": _categories(MAX_CATEGORIES)}
    client = _api(world, "researcher")
    started = time.monotonic()
    with django_assert_max_num_queries(40):
        response = client.post("/api/projects/create/", body, format="json")
    assert response.status_code == 201, response.content[:300]
    assert time.monotonic() - started < 30
    project = Project.objects.get(slug="big-tree")
    assert project.categories.count() == MAX_CATEGORIES
    child = project.categories.select_related("parent").get(name="class 00123")
    assert child.parent.name == "class 00012"


def test_a_category_loop_is_refused(world):
    loop = [{"name": "a", "parent": "b"}, {"name": "b", "parent": "c"}, {"name": "c", "parent": "a"}]
    body = {"slug": "loop", "task_type": "classify", "categories": loop}
    assert (
        _json_error(_api(world, "researcher").post("/api/projects/create/", body, format="json"), 400)["code"]
        == "bad_parent"
    )


# --- finding 8: a slug of digits is a slug; sign-up is throttled ---------------------------------------------


def test_a_digits_only_slug_is_never_read_as_a_primary_key(world):
    """`labeling/selectors/projects.py` took "2024" for a primary key: the request reached another project."""
    from labeling.services.projects import project_create

    researcher = world.person("researcher")
    other = project_create(slug="first-of-two", owner=researcher)
    digits = project_create(slug=str(other.pk), name="Digits", owner=researcher)
    response = _api(world, "researcher").get(f"/api/projects/{other.pk}/")
    assert response.status_code == 200
    assert response.json()["id"] == digits.pk and response.json()["slug"] == str(other.pk)
    # B's primary key spelled as a slug reaches nothing of B.
    b_pk = world.b.objects["project"].pk
    assert _api(world, "researcher").get(f"/api/projects/{b_pk}/").status_code == 404


def test_signup_is_throttled_per_address(db, settings):
    settings.SIGNUP_LIMIT = 3
    statuses = []
    for i in range(5):
        response = Client(REMOTE_ADDR="203.0.113.50").post("/accounts/signup/", {
            "username": f"mass{i}", "email": f"mass{i}@example.org",
            "password1": "a-Long-pass-42", "password2": "a-Long-pass-42",
        })  # fmt: skip
        statuses.append(response.status_code)
    assert statuses == [302, 302, 302, 429, 429]
    other = Client(REMOTE_ADDR="203.0.113.51").post("/accounts/signup/", {
        "username": "elsewhere", "email": "elsewhere@example.org",
        "password1": "a-Long-pass-42", "password2": "a-Long-pass-42",
    })  # fmt: skip
    assert other.status_code == 302
