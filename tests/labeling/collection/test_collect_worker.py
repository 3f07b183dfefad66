"""A collection started from the API runs on a real Celery worker (queue `ingest`) against the local search
server, and its progress and per-query statistics are on the researcher's page and in the API."""

from __future__ import annotations

import time

import pytest

from labeling.models import CollectionRun, Item
from labeling.services.collection.run import collection_plan
from tests.helpers.search_server import search_server_start
from tests.labeling.collection.conftest import build_world

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def collect_worker(project):
    from tests.helpers.services import require_broker
    from tests.helpers.workers import WorkerProcess, other_workers_stopped, purge_queues

    require_broker()
    world = build_world(collection_plan(project=project), ["openverse", "commons"])
    server = search_server_start(world)
    env = {"ANNOTATE_FETCH_ALLOW_LOOPBACK_FOR_TESTS": "true", "ANNOTATE_COLLECT_OPENVERSE_URL": server.url,
           "ANNOTATE_COLLECT_COMMONS_URL": server.url, "ANNOTATE_COLLECT_PAGE_SIZE": "3"}  # fmt: skip
    with other_workers_stopped():
        purge_queues()
        worker = WorkerProcess(queues="default,ingest", env_extra=env).start()
        try:
            worker.wait_ready()
            yield worker
        finally:
            worker.stop()
            server.stop()


def test_api_starts_a_collection_the_worker_runs_it_the_page_shows_it(project, researcher, collect_worker, client,
                                                                       api_client):  # fmt: skip
    api_client.force_authenticate(researcher)
    started = api_client.post(f"/api/projects/{project.slug}/collect/", {"sources": ["openverse", "commons"],
                              "per_category": 40}, format="json")  # fmt: skip
    assert started.status_code == 202, started.content
    run_id = started.json()["run"]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        run = CollectionRun.objects.get(pk=run_id)
        if run.status in (CollectionRun.Status.DONE, CollectionRun.Status.FAILED):
            break
        time.sleep(0.5)
    assert run.status == CollectionRun.Status.DONE, (run.status, run.error, collect_worker.log())
    report = api_client.get(f"/api/projects/{project.slug}/collect/{run_id}/").json()
    assert report["ingested"] == Item.objects.filter(project=project).count() > 0
    assert {s["source"] for s in report["sources"]} == {"openverse", "commons"}
    assert all(q["status"] == "done" for q in report["query_stats"])
    client.force_login(researcher)
    page = client.get(f"/projects/{project.slug}/collect/")
    assert page.status_code == 200
    assert b'data-testid="query-stats"' in page.content and b"husky dog" in page.content
    # A run that is not this project's is a 404.
    assert api_client.get(f"/api/projects/{project.slug}/collect/{run_id + 1}/").status_code == 404


def test_api_refuses_unknown_sources_with_a_clear_error(project, researcher, api_client):
    api_client.force_authenticate(researcher)
    response = api_client.post(f"/api/projects/{project.slug}/collect/", {"sources": ["bing"]}, format="json")
    assert response.status_code == 400 and "sources" in response.json()["errors"]
    queries = api_client.get(f"/api/projects/{project.slug}/collect/queries/").json()
    assert queries["categories"][0]["queries"][:2] == ["husky", "Siberian husky"]


def test_collect_page_sets_languages_licences_and_category_terms(project, researcher, client, make_user):
    client.force_login(researcher)
    tulip = project.categories.get(name="tulip")
    page = client.post(f"/projects/{project.slug}/collect/", {"action": "settings", "languages": "nl, zh-Hans",
                       "allowed_licenses": ["cc0", "by"], "contributions_open": "on",
                       "contribution_license": "CC BY 4.0"})  # fmt: skip
    assert page.status_code == 302
    client.post(f"/projects/{project.slug}/collect/", {"action": "terms", "category": str(tulip.pk),
                "synonyms": "Tulipa, tulip flower", "names": "zh-Hans: 郁金香\nnl: tulp"})  # fmt: skip
    project.refresh_from_db()
    tulip.refresh_from_db()
    assert project.collect_languages == ["nl", "zh-Hans"] and project.allowed_licenses == ["cc0", "by"]
    assert (tulip.synonyms, tulip.names) == (["Tulipa", "tulip flower"], {"zh-Hans": ["郁金香"], "nl": ["tulp"]})
    text = client.get(f"/projects/{project.slug}/collect/").content.decode()
    assert "tulip · Tulipa · tulip flower · 郁金香 · tulp" in text  # zh-Hans first
    bad = client.post(f"/projects/{project.slug}/collect/", {"action": "settings", "languages": "no such"},
                      follow=True)  # fmt: skip
    assert "Languages are codes" in bad.content.decode()
    client.force_login(make_user("vera"))
    assert client.get(f"/projects/{project.slug}/collect/").status_code == 403
