"""Fixtures of the collection tests: the local search server and a 10-category project whose world it serves."""

from __future__ import annotations

import pytest

from tests.helpers.search_server import SearchWorld, search_server_start

# 10 categories; two carry ImageNet wnids (WordNet adds their synonyms and parent), one a Chinese name.
CATEGORIES = [
    {"name": "husky", "wnid": "n02110185"},
    {"name": "dog", "wnid": "n02084071"},
    {"name": "heron"},
    {"name": "tulip"},
    {"name": "kayak"},
    {"name": "teapot"},
    {"name": "violin"},
    {"name": "cactus"},
    {"name": "lighthouse"},
    {"name": "bicycle"},
]


def build_world(plan, sources: list[str]) -> SearchWorld:
    """Each category has 12 photos, 0-7 show it, 8-11 do not. The first query (the name) finds photos 0-3, every
    other English query 2-5 (overlapping the name's: duplicate URLs), parent-qualified queries 6-9 (half right),
    translations 8-11 (all wrong). Photo 3 of every category carries a non-commercial licence on Openverse."""
    world = SearchWorld()
    for entry in plan:
        cat = entry.category.name
        for i in range(12):
            if i < 8:
                world.relevant_names.add(f"{cat}-{i}")
        world.licenses[f"{cat}-3"] = "by-nc"
        for n, spec in enumerate(entry.queries):
            if spec.kind == "translation":
                idx = range(8, 12)
            elif spec.kind == "parent":
                idx = range(6, 10)
            elif n == 0:
                idx = range(0, 4)
            else:
                idx = range(2, 6)
            for source in sources:
                world.results[(source, spec.text)] = [f"{cat}-{i}" for i in idx]
    return world


@pytest.fixture
def researcher(make_user):
    return make_user("rita", role="researcher")


@pytest.fixture
def project(researcher):
    from labeling.services.projects import project_create

    project = project_create(slug="zoo", owner=researcher, categories=CATEGORIES, min_votes=3, max_votes=5,
                             confidence_target=0.8, gold_rate=0.0, audit_rate=0.0)  # fmt: skip
    heron = project.categories.get(name="heron")
    heron.names = {"zh-Hans": ["鹭"]}
    heron.synonyms = ["egret"]
    heron.save(update_fields=["names", "synonyms"])
    project.collect_languages = ["zh-Hans"]
    project.save(update_fields=["collect_languages"])
    return project


@pytest.fixture
def search_server():
    server = search_server_start()
    yield server
    server.stop()
