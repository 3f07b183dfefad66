"""Django admin for the labeling data: every page renders, list pages do not grow in queries with their rows,
writes go through the services, and the staff roles keep their limits (operator: no delete, no edits of votes or
versions; auditor: view only)."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from annotate.staff import StaffRole, staff_role_grant
from labeling.models import (
    Annotation,
    AnnotatorAppeal,
    AnnotatorLiveStats,
    AnnotatorScore,
    AnnotatorStatusChange,
    Category,
    CurationAction,
    DatasetExport,
    DatasetVersion,
    IngestBatch,
    IngestEntry,
    Item,
    ModelOpinion,
    ReviewAction,
)
from labeling.services.datasets import dataset_version_create
from labeling.services.exports import dataset_export_request
from labeling.services.ingestion import batch_create
from labeling.services.quality.appeals import appeal_submit
from labeling.services.quality.opinions import Opinion, model_opinions_write
from labeling.services.quality.review import review_accept
from labeling.services.quality.triggers import annotator_block
from tests.labeling.quality.qfactories import cast, make_project

pytestmark = pytest.mark.django_db

LISTS = ("project", "category", "image", "item", "golditem", "annotation", "reviewaction", "curationaction",
         "datasetversion", "datasetexport", "ingestbatch", "ingestentry", "annotatorscore", "annotatorlivestats",
         "annotatorstatuschange", "annotatorappeal", "modelopinion")  # fmt: skip


def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _world(make_user, *, slug: str, n_items: int, seed0: int):
    """A project with n_items items, 3 votes each, a gold item, a review action, a version, an export, a batch."""
    owner = make_user(f"{slug}-owner", role="researcher")
    project, items = make_project(slug=slug, owner=owner, n_items=n_items, min_votes=1, max_votes=3, target=0.5,
                                  seed0=seed0)  # fmt: skip
    voters = [make_user(f"{slug}-v{i}") for i in range(3)]
    for item in items:
        for v in voters:
            cast(v, item, 1)
    from labeling.services.curation import items_mark_gold, items_set_excluded

    items_mark_gold(project=project, item_ids=[items[0].pk], label=1, user=owner)
    items_set_excluded(project=project, item_ids=[i.pk for i in items[1:]], excluded=True, user=owner)
    items_set_excluded(project=project, item_ids=[i.pk for i in items[1:]], excluded=False, user=owner)
    for item in items[1:]:
        item.refresh_from_db()
        if item.label is not None:
            review_accept(item=item, reviewer=owner)
    version = dataset_version_create(project=project, created_by=owner)
    for fmt in ("csv", "jsonl", "coco"):
        dataset_export_request(version=version, fmt=fmt, created_by=owner, enqueue=False)
    # a model's opinion of every item, and a blocked volunteer's note to the reviewers
    model_opinions_write(opinions=[Opinion(item_id=i.pk, source="zero_shot", class_ids=[0, 1], probabilities=[0.2, 0.8])
                                   for i in items])  # fmt: skip
    annotator_block(project=project, user_id=voters[0].pk, reason="a test block")
    appeal_submit(project=project, user=voters[0], text="please look again")
    batch = batch_create(project=project, kind="folder", source="/data/x", created_by=owner)
    for i in range(n_items):  # the per-entry report batch_run writes (no ingestion needed to look at it)
        key = f"img{i}.jpg"
        IngestEntry.objects.create(batch=batch, key=key, key_hash=hashlib.sha256(key.encode()).hexdigest(),
                                   status="ingested", image=items[i].image)  # fmt: skip
    return project, items


@pytest.fixture
def staff(make_user):
    operator = make_user("operator")
    staff_role_grant(user=operator, role=StaffRole.OPERATOR)
    auditor = make_user("auditor")
    staff_role_grant(user=auditor, role=StaffRole.AUDITOR)
    root = get_user_model().objects.create_superuser("root", "root@example.org", "root-pass-4242")
    return {"operator": operator, "auditor": auditor, "root": root}


def _counts(client) -> dict[str, int]:
    out = {}
    for name in LISTS:
        with CaptureQueriesContext(connection) as q:
            r = client.get(f"/admin/labeling/{name}/")
        assert r.status_code == 200, name
        out[name] = len(q)
    return out


def test_list_pages_render_and_do_not_grow_with_rows(make_user, staff):
    client = _client(staff["root"])
    _world(make_user, slug="small", n_items=2, seed0=100)
    small = _counts(client)
    _world(make_user, slug="big", n_items=12, seed0=200)
    big = _counts(client)
    assert big == small, {k: (small[k], big[k]) for k in LISTS if small[k] != big[k]}
    assert max(big.values()) <= 20, big
    assert AnnotatorScore.objects.filter(project__slug="big").count() == 3
    # the projects list counts each project's items and categories (a scalar subquery each, not a join product)
    html = client.get("/admin/labeling/project/").content.decode()
    counts = re.findall(r'field-n_items">(\d+)</td><td class="field-n_categories">(\d+)<', html)
    assert sorted(counts) == [("12", "1"), ("2", "1")], counts


def test_change_pages_render_for_every_model(make_user, staff):
    project, items = _world(make_user, slug="p", n_items=3, seed0=300)
    objects = {
        "project": project.pk, "category": Category.objects.first().pk, "image": items[0].image_id,
        "item": items[1].pk, "golditem": items[0].pk, "annotation": Annotation.objects.first().pk,
        "reviewaction": ReviewAction.objects.first().pk, "curationaction": CurationAction.objects.first().pk,
        "datasetversion": DatasetVersion.objects.first().pk, "datasetexport": DatasetExport.objects.first().pk,
        "ingestbatch": IngestBatch.objects.first().pk, "ingestentry": IngestEntry.objects.first().pk,
        "annotatorscore": AnnotatorScore.objects.first().pk,
        "annotatorlivestats": AnnotatorLiveStats.objects.first().pk,
        "annotatorstatuschange": AnnotatorStatusChange.objects.first().pk,
        "annotatorappeal": AnnotatorAppeal.objects.first().pk, "modelopinion": ModelOpinion.objects.first().pk,
    }  # fmt: skip
    for who in ("root", "operator", "auditor"):
        client = _client(staff[who])
        for name, pk in objects.items():
            r = client.get(f"/admin/labeling/{name}/{pk}/change/")
            assert r.status_code == 200, (who, name)
    html = _client(staff["root"]).get(f"/admin/labeling/item/{items[1].pk}/change/").content.decode()
    assert html.count(f"{project.slug}-v") >= 3  # the votes inline, with their annotators
    assert f"/admin/labeling/image/{items[1].image_id}/thumbnail/" in html


def test_thumbnail_is_served_to_staff_outside_the_project(make_user, staff):
    _, items = _world(make_user, slug="t", n_items=2, seed0=400)
    url = f"/admin/labeling/image/{items[0].image_id}/thumbnail/"
    for who in ("operator", "auditor"):
        r = _client(staff[who]).get(url)
        assert r.status_code == 200 and r["Content-Type"].startswith("image/")
    r = _client(make_user("someone", role="researcher")).get(url)
    assert r.status_code == 302 and "/admin/login/" in r["Location"]


def test_readonly_models_refuse_writes_even_for_superusers(make_user, staff):
    _, items = _world(make_user, slug="ro", n_items=2, seed0=500)
    version = DatasetVersion.objects.get()
    annotation = Annotation.objects.first()
    client = _client(staff["root"])
    assert client.post(f"/admin/labeling/datasetversion/{version.pk}/change/", {"name": "x"}).status_code == 403
    assert client.post(f"/admin/labeling/datasetversion/{version.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"/admin/labeling/annotation/{annotation.pk}/change/", {"label": 0}).status_code == 403
    assert client.post(f"/admin/labeling/item/{items[1].pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/labeling/annotation/add/").status_code == 403
    opinion = ModelOpinion.objects.first()
    assert client.post(f"/admin/labeling/modelopinion/{opinion.pk}/delete/", {"post": "yes"}).status_code == 403
    change = AnnotatorStatusChange.objects.first()
    assert client.post(f"/admin/labeling/annotatorstatuschange/{change.pk}/change/", {"reason": "x"}).status_code == 403
    version.refresh_from_db()
    annotation.refresh_from_db()
    assert version.name == "v1" and annotation.label == 1 and Item.objects.count() == 2


def test_operator_actions_go_through_services_and_auditor_has_none(make_user, staff):
    _, items = _world(make_user, slug="act", n_items=3, seed0=600)
    ids = [items[1].pk, items[2].pk]
    form = {"action": "exclude_from_datasets", "_selected_action": ids}
    auditor_page = _client(staff["auditor"]).get("/admin/labeling/item/").content.decode()
    assert "exclude_from_datasets" not in auditor_page
    _client(staff["auditor"]).post("/admin/labeling/item/", form)
    assert not Item.objects.filter(excluded=True).exists()
    r = _client(staff["operator"]).post("/admin/labeling/item/", form)
    assert r.status_code == 302
    assert set(Item.objects.filter(excluded=True).values_list("pk", flat=True)) == set(ids)
    assert CurationAction.objects.filter(user=staff["operator"], action="exclude").count() == 2
    _client(staff["operator"]).post("/admin/labeling/item/", {"action": "send_to_review", "_selected_action": ids})
    assert set(Item.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"review"}


def test_project_settings_through_the_service_and_people_not_editable(make_user, staff):
    project, items = _world(make_user, slug="ps", n_items=2, seed0=700)
    Item.objects.filter(pk=items[0].pk).update(status="open", needed_votes=1)
    fields = {"name": "Renamed", "instructions": "", "min_votes": 2, "max_votes": 5, "confidence_target": 0.9,
              "gold_rate": 0.1, "qualification_size": 0, "stall_hours": 24, "visibility": "public",
              "owners": [staff["operator"].pk], "reviewers": [staff["operator"].pk]}  # fmt: skip
    url = f"/admin/labeling/project/{project.pk}/change/"
    assert _client(staff["auditor"]).post(url, fields).status_code == 403
    page = _client(staff["operator"]).get(url).content.decode()
    assert 'name="owners"' not in page and 'name="reviewers"' not in page and 'name="members"' not in page
    r = _client(staff["operator"]).post(url, fields | {"categories-TOTAL_FORMS": 0, "categories-INITIAL_FORMS": 0})
    assert r.status_code == 302, r.content.decode()[:2000]
    project.refresh_from_db()
    assert project.name == "Renamed" and project.min_votes == 2
    assert not project.owners.filter(pk=staff["operator"].pk).exists()
    assert not project.reviewers.filter(pk=staff["operator"].pk).exists()
    assert Item.objects.get(pk=items[0].pk).needed_votes == 2  # project_update's rule ran
    assert (
        _client(staff["operator"]).post(f"/admin/labeling/project/{project.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )


def test_gold_label_change_is_validated_and_uses_gold_set(make_user, staff):
    _, items = _world(make_user, slug="g", n_items=2, seed0=800)
    url = f"/admin/labeling/golditem/{items[0].pk}/change/"
    r = _client(staff["operator"]).post(url, {"gold_label": 7})
    assert r.status_code == 200 and "not valid" in r.content.decode()
    r = _client(staff["operator"]).post(url, {"gold_label": 0})
    assert r.status_code == 302
    item = Item.objects.get(pk=items[0].pk)
    assert item.gold_label == 0 and item.label == 0 and item.posterior == {"0": 1.0, "1": 0.0}
    _client(staff["operator"]).post("/admin/labeling/golditem/", {"action": "remove_gold",
                                                                   "_selected_action": [item.pk]})  # fmt: skip
    assert not Item.objects.get(pk=item.pk).is_gold


def test_item_search_by_id_sha_or_voter_walks_one_index(make_user, staff):
    """The item search box (issue 26: the generic search joined every item to every vote and user, 2 s for an id at
    100k items): a number finds that item, a SHA-256 its image's items, other text the items a matching user voted
    on, each once; a number is never also a username and text never an id."""
    _project, items = _world(make_user, slug="find", n_items=4, seed0=300)
    client = _client(staff["root"])

    def found(term: str) -> list[int]:
        html = client.get("/admin/labeling/item/", {"q": term}).content.decode()
        return sorted(int(i) for i in re.findall(r'field-id"><a href="/admin/labeling/item/(\d+)/change/', html))

    assert found(str(items[2].pk)) == [items[2].pk]
    assert found(items[3].image.sha256.upper()) == [items[3].pk]
    assert found("find-v") == sorted(i.pk for i in items)  # every item once, though three voters match "find-v"
    assert found("FIND-V") == sorted(i.pk for i in items)
    make_user("find-v1x")  # "find-v1" is a username: that user's items only, not find-v1x's too
    cast(get_user_model().objects.get(username="find-v1x"), items[0], 1)
    Annotation.objects.filter(user__username="find-v1", item=items[0]).delete()
    assert found("find-v1") == sorted(i.pk for i in items[1:])
    assert found("nobody-like-this") == [] and found("9" * 40) == []
    Annotation.objects.filter(user__username="find-v2", item=items[1]).delete()
    Annotation.objects.filter(user__username__in=["find-v0", "find-v1"]).exclude(item=items[1]).delete()
    assert found("find-v2") == sorted(i.pk for i in items if i != items[1])
