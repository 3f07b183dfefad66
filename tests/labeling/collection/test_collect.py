"""`collect` on a 10-category project against the local search server: provenance and licence on every candidate,
duplicates across queries and sources counted once, precision per query after a simulated crowd verified them."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest
from django.core.management import call_command

from labeling.models import CollectionCandidate, CollectionQuery, CollectionRun, ImageSource, Item
from labeling.selectors.collection import query_stats, source_stats
from labeling.services.annotations import annotations_submit_batch
from labeling.services.assignment import next_items
from labeling.services.collection.run import collection_plan, collection_run, collection_run_create
from tests.helpers.search_server import search_server_start
from tests.labeling.collection.conftest import build_world

pytestmark = pytest.mark.django_db(transaction=True)
SOURCES = ["openverse", "commons"]


def _crowd(project, world, volunteers) -> int:
    """Volunteers label every grid truthfully (a photo shows its category iff the world says so)."""
    names = {}
    for url, image_id in CollectionCandidate.objects.filter(image__isnull=False).values_list("url", "image_id"):
        names[image_id] = url.rsplit("/", 1)[1].removesuffix(".jpg")
    answered = 0
    progress = True
    while progress:
        progress = False
        for user in volunteers:
            items = next_items(user=user, project=project, n=12)
            if not items:
                continue
            progress = True
            answers = [
                {
                    "item_id": item.pk,
                    "submission_id": str(uuid.uuid4()),
                    "time_spent_ms": 1500,
                    "answer": {"label": 1 if world.relevant(names[item.image_id]) else 0},
                }
                for item in items
            ]
            results = annotations_submit_batch(user=user, project=project, answers=answers)
            assert all(r["ok"] for r in results), results
            answered += len(results)
    return answered


def test_collect_ten_categories_provenance_duplicates_precision(project, researcher, settings, make_user, client):
    plan = collection_plan(project=project)
    assert len(plan) == 10
    husky = next(p for p in plan if p.category.name == "husky")
    assert [q.text for q in husky.queries][:4] == ["husky", "Siberian husky", "husky dog", "Siberian husky dog"]
    heron = next(p for p in plan if p.category.name == "heron")
    assert ("鹭", "zh-Hans", "translation") in [(q.text, q.language, q.kind) for q in heron.queries]
    world = build_world(plan, SOURCES)
    failing = "Canis familiaris"
    world.failing.add(failing)
    server = search_server_start(world)
    try:
        settings.ANNOTATE = {**settings.ANNOTATE, **server.settings()}
        run = collection_run_create(project=project, sources=SOURCES, per_category=200)
        run = collection_run(run_id=run.id)
    finally:
        server.stop()
    assert run.status == CollectionRun.Status.DONE, run.error
    # Rate limits: every Openverse query was answered 429 once and retried; pages of 3 -> two pages of 4 results.
    ov = [q for (source, q) in world.requests if source == "openverse"]
    assert all(world.requests["openverse", q] >= 2 for q in ov)
    failed = CollectionQuery.objects.filter(run=run, status=CollectionQuery.Status.FAILED)
    assert {(q.source, q.text) for q in failed} == {("openverse", failing), ("commons", failing)}
    assert all(q.error.startswith(("http_error", "api_error")) for q in failed)

    candidates = list(CollectionCandidate.objects.filter(query__run=run).select_related("query__category"))
    assert candidates and all(c.outcome != CollectionCandidate.Outcome.PENDING for c in candidates)
    # Licences: the non-commercial Openverse photo is refused, never ingested; everything kept is allowed.
    refused = [c for c in candidates if c.outcome == CollectionCandidate.Outcome.LICENSE_REFUSED]
    assert refused and all(c.license == "by-nc" and c.image_id is None for c in refused)
    kept = [c for c in candidates if c.outcome == CollectionCandidate.Outcome.INGESTED]
    assert all(c.license in {"by", "by-sa"} and c.author and c.page_url and c.image_id for c in kept)
    # Provenance of every ingested image: its URL, licence, attribution (author, page) and query.
    sources = {(s.source_uri, s.candidate_category_id): s for s in ImageSource.objects.filter(project=project)}
    for c in kept:
        src = sources[(c.url, c.query.category_id)]
        assert src.license == c.license and c.author in src.attribution and c.page_url in src.attribution
        assert src.query == c.query.text and src.image_id == c.image_id
    # Duplicates counted once: one item per (photo, category), whatever the queries and sources that found it.
    expected = Counter()
    photos: dict[str, set] = {}
    for c in candidates:
        if c.outcome != CollectionCandidate.Outcome.LICENSE_REFUSED:
            photos.setdefault(c.query.category.name, set()).add(c.url.rsplit("/", 1)[1])
    for cat, names in photos.items():
        expected[cat] = len(names)
    items = Counter(Item.objects.filter(project=project).values_list("category__name", flat=True))
    assert items == expected
    assert len(kept) == sum(expected.values())
    assert all(c.image_id for c in candidates if c.outcome == CollectionCandidate.Outcome.DUPLICATE)
    stats = query_stats(project=project, run=run)
    assert sum(s.candidates for s in stats) == len(candidates)
    assert sum(s.ingested for s in stats) == Item.objects.filter(project=project).count()
    assert sum(s.candidates - s.duplicates - s.license_refused - s.rejected for s in stats) == len(kept)

    # A simulated crowd verifies them; precision per query follows the world: names 1, parents 1/2, translations 0.
    volunteers = [make_user(f"vol{i}") for i in range(3)]
    assert _crowd(project, world, volunteers) >= 3 * len(kept)
    assert not Item.objects.filter(project=project, status=Item.Status.OPEN).exists()
    stats = {(s.source, s.text): s for s in query_stats(project=project, run=run)}
    assert stats["openverse", "husky"].precision == 1.0
    assert stats["commons", "husky"].precision == 1.0
    assert stats["commons", "husky dog"].precision == 0.5
    assert stats["commons", "鹭"].precision == 0.0
    assert stats["commons", "鹭"].verified == 4
    # The category page shows how each of its queries did.
    client.force_login(researcher)
    husky_id = project.categories.get(name="husky").pk
    page = client.get(f"/projects/{project.slug}/categories/{husky_id}/edit/").content.decode()
    assert 'data-testid="category-queries"' in page and "Siberian husky dog" in page and "50 %" in page
    per_source = {s["source"]: s for s in source_stats(list(stats.values()))}
    assert set(per_source) == set(SOURCES) and all(s["precision"] is not None for s in per_source.values())


def test_collect_dry_run_prints_queries_without_fetching(project, capsys):
    call_command("collect", "--project", project.slug, "--dry-run", "--json")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    data = json.loads(last)
    assert [c["category"] for c in data["categories"]][:2] == ["husky", "dog"]
    dog = data["categories"][1]
    assert dog["wnid"] == "n02084071"
    assert dog["queries"][:3] == ["dog", "domestic dog", "Canis familiaris"]
    assert not CollectionRun.objects.exists()
