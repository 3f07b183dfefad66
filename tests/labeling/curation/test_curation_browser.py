"""Curation browser: filters shared by page and API, scoping, bulk actions, item page, no N+1."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labeling.models import CurationAction, Item, ModelOpinion
from labeling.selectors.curation import CurationFilters, curation_filters_parse, curation_items
from labeling.services.curation import items_mark_gold, items_send_to_review, items_set_excluded
from labeling.services.datasets import dataset_version_create
from labeling.services.quality.opinions import Opinion, model_opinions_write
from tests.labeling.quality.qfactories import cast, make_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(make_user):
    owner = make_user("res", role="researcher")
    reviewer = make_user("rev", role="reviewer")
    project, items = make_project(slug="cur", owner=owner, n_items=12, min_votes=1, max_votes=3, target=0.5)
    project.reviewers.add(reviewer)
    voters = [make_user(f"v{i}") for i in range(3)]
    for item in items[:6]:
        for v in voters:
            cast(v, item, 1)
    cast(voters[0], items[6], 0)
    model_opinions_write(opinions=[
        Opinion(items[7].pk, ModelOpinion.Source.RUN, [0, 1], [0.9, 0.1], entropy=0.4, margin=0.8),
        Opinion(items[8].pk, ModelOpinion.Source.RUN, [0, 1], [0.4, 0.6], entropy=0.9, margin=0.2),
    ])  # fmt: skip
    for it in items:
        it.refresh_from_db()
    return project, items, owner, reviewer, voters


def ids(qs):
    return sorted(i.pk for i in qs)


def test_filters(setup):
    project, items, _, _, voters = setup
    q = lambda **kw: ids(curation_items(project=project, filters=curation_filters_parse(kw)))  # noqa: E731
    voted = ids(items[:6])
    assert q(annotator=voters[1].username) == voted
    assert q(min_votes="3") == voted
    assert q(max_votes="0") == ids(items[7:])
    assert q(label="1") == ids(i for i in items if i.label == 1)
    assert q(predicted="0") == [items[7].pk]
    assert q(gold="yes") == []
    assert q(cluster=str(items[3].image_id)) == [items[3].pk]
    assert q(category=str(items[0].category_id)) == ids(items)
    top = curation_items(project=project, filters=CurationFilters(sort="uncertainty"))
    assert [i.pk for i in top[:2]] == [items[8].pk, items[7].pk]
    assert q(min_posterior="0.5", status="done") == ids(i for i in items if i.status == "done" and i.confidence >= 0.5)


def test_opinions_without_a_prediction_or_an_entropy_never_break_the_grid(setup, api_client):
    project, items, owner, *_ = setup
    model_opinions_write(opinions=[
        Opinion(items[9].pk, ModelOpinion.Source.LABEL_ERROR, [], [], detail={"folds": 3}),  # a note, no prediction
        Opinion(items[10].pk, ModelOpinion.Source.ZERO_SHOT, [0, 1], [0.2, 0.8]),  # no entropy
    ])  # fmt: skip
    api_client.force_authenticate(owner)
    r = api_client.get(f"/api/projects/{project.slug}/items/", {"sort": "uncertainty", "size": "24"})
    assert r.status_code == 200
    rows = {row["id"]: row for row in r.json()["results"]}
    assert rows[items[9].pk]["model_predicted"] is None and rows[items[9].pk]["model_entropy"] is None
    assert [row["id"] for row in r.json()["results"][:2]] == [items[8].pk, items[7].pk]
    r = api_client.get(f"/api/projects/{project.slug}/items/", {"predicted": "1", "disagree": "no"})
    assert r.status_code == 200 and [row["id"] for row in r.json()["results"]] != []


def test_disagreement_filter(setup):
    project, items, *_ = setup
    Item.objects.filter(pk=items[7].pk).update(label=1, status="done")
    Item.objects.filter(pk=items[8].pk).update(label=1, status="done")
    f = curation_filters_parse({"disagree": "yes"})
    assert ids(curation_items(project=project, filters=f)) == [items[7].pk]


@pytest.mark.parametrize("params", [{"status": "nope"}, {"min_posterior": "2"}, {"label": "x"}, {"sort": "name"}])
def test_bad_filters_are_errors_on_page_and_api(setup, client, api_client, params):
    project, _, owner, *_ = setup
    client.force_login(owner)
    assert client.get(f"/projects/{project.slug}/items/", params).status_code == 400
    api_client.force_authenticate(owner)
    r = api_client.get(f"/api/projects/{project.slug}/items/", params)
    assert r.status_code == 400 and r.json()["code"] == "invalid_filter"


def test_page_and_api_agree_and_do_not_scale_queries(setup, client, api_client):
    project, items, owner, *_ = setup
    client.force_login(owner)
    url = f"/projects/{project.slug}/items/"
    with CaptureQueriesContext(connection) as small:
        r = client.get(url, {"size": "24", "annotator": "v0"})
    assert r.status_code == 200
    page_ids = [int(x) for x in r.content.decode().split('data-item-id="')[1:] for x in [x.split('"')[0]]]
    assert sorted(page_ids) == ids(items[:7])
    for seed in range(12, 60):  # many more items: the query count must not grow
        from tests.labeling.quality.qfactories import real_image

        Item.objects.create(project=project, image=real_image(5000 + seed), category=items[0].category)
    with CaptureQueriesContext(connection) as big:
        assert client.get(url, {"size": "48"}).status_code == 200
    assert len(big) == len(small)
    api_client.force_authenticate(owner)
    data = api_client.get(f"/api/projects/{project.slug}/items/", {"annotator": "v0"}).json()
    assert sorted(r["id"] for r in data["results"]) == ids(items[:7]) and data["count"] == 7
    with CaptureQueriesContext(connection) as api_q:
        data = api_client.get(f"/api/projects/{project.slug}/items/", {"size": "96"}).json()
    assert data["count"] == 60 and len(data["results"]) == 60 and len(api_q) <= 8


def test_scoping(setup, client, api_client, make_user):
    project, items, *_ = setup
    other = make_user("other", role="researcher")
    volunteer = make_user("vol")
    for user, status in ((other, 404), (volunteer, 403)):
        client.force_login(user)
        assert client.get(f"/projects/{project.slug}/items/").status_code == status
        assert client.get(f"/projects/{project.slug}/items/{items[0].pk}/").status_code == status
        api_client.force_authenticate(user)
        r = api_client.post(f"/api/projects/{project.slug}/items/bulk", {"action": "exclude", "items": [items[0].pk]},
                            format="json")  # fmt: skip
        assert r.status_code == status
    assert not Item.objects.filter(excluded=True).exists()


def test_item_of_another_project_is_404(setup, client, make_user):
    project, _, owner, *_ = setup
    _, foreign = make_project(slug="foreign", owner=make_user("x", role="researcher"), n_items=1, seed0=9000)
    client.force_login(owner)
    assert client.get(f"/projects/{project.slug}/items/{foreign[0].pk}/").status_code == 404
    r = client.post(f"/projects/{project.slug}/items/bulk/", {"action": "exclude", "item": [foreign[0].pk]})
    assert r.status_code == 302
    foreign[0].refresh_from_db()
    assert not foreign[0].excluded


def test_bulk_actions_through_api(setup, api_client):
    project, items, _, reviewer, _ = setup
    api_client.force_authenticate(reviewer)
    url = f"/api/projects/{project.slug}/items/bulk"
    r = api_client.post(url, {"action": "review", "items": [items[7].pk, items[8].pk]}, format="json")
    assert r.status_code == 200 and sorted(r.json()["changed"]) == [items[7].pk, items[8].pk]
    assert set(Item.objects.filter(pk__in=[items[7].pk, items[8].pk]).values_list("status", "review_reason")) == {
        ("review", "curator")
    }
    r = api_client.post(url, {"action": "gold", "items": [items[9].pk]}, format="json")
    assert r.status_code == 400
    r = api_client.post(url, {"action": "gold", "items": [items[9].pk], "label": 7}, format="json")
    assert r.status_code == 400 and r.json()["code"] == "invalid_label"
    r = api_client.post(url, {"action": "gold", "items": [items[9].pk], "label": 1}, format="json")
    assert r.status_code == 200
    items[9].refresh_from_db()
    assert items[9].is_gold and items[9].gold_label == 1 and items[9].confidence == 1.0
    r = api_client.post(url, {"action": "exclude", "items": [items[0].pk, 10**9]}, format="json")
    assert r.status_code == 404 and not Item.objects.filter(excluded=True).exists()  # all or nothing
    assert CurationAction.objects.filter(user=reviewer).count() == 3


def test_excluded_items_stay_out_of_dataset_versions(setup):
    project, items, owner, *_ = setup
    done = [i for i in items if i.status == "done" and i.label == 1]
    assert len(done) >= 2
    v1 = dataset_version_create(project=project, created_by=owner)
    items_set_excluded(project=project, item_ids=[done[0].pk], excluded=True, user=owner)
    v2 = dataset_version_create(project=project, created_by=owner)
    assert v2.items_count == v1.items_count - 1
    assert not v2.rows.filter(image_id=done[0].image_id).exists()
    assert v2.filters["excluded_items"] == 1
    items_set_excluded(project=project, item_ids=[done[0].pk], excluded=False, user=owner)
    assert dataset_version_create(project=project).items_count == v1.items_count


def test_send_to_review_skips_gold_and_shows_in_review_queue(setup):
    from labeling.selectors.review import review_items

    project, items, owner, *_ = setup
    items_mark_gold(project=project, item_ids=[items[0].pk], label=1, user=owner)
    result = items_send_to_review(project=project, item_ids=[items[0].pk, items[1].pk], user=owner)
    assert result.changed == [items[1].pk] and result.unchanged == [items[0].pk]
    queued = {i.pk: i.reason for i in review_items(project=project)}
    assert queued[items[1].pk] == "sent by a researcher or reviewer"


def test_item_page_shows_votes_scores_history(setup, client):
    project, items, owner, reviewer, voters = setup
    items_set_excluded(project=project, item_ids=[items[0].pk], excluded=True, user=owner)
    client.force_login(reviewer)
    r = client.get(f"/projects/{project.slug}/items/{items[0].pk}/")
    html = r.content.decode()
    assert r.status_code == 200
    assert f"/media/image/{items[0].image.sha256}" in html
    for v in voters:
        assert f"<td>{v.username}</td>" in html
    assert "voted yes" in html and "excluded from datasets" in html and "excluded from new versions" in html
    api = client.get(f"/api/projects/{project.slug}/items/{items[0].pk}").json()
    assert len(api["votes"]) == 3 and api["excluded"] is True
    assert [e["kind"] for e in api["history"]][:1] == ["created"] and api["history"][-1]["kind"] == "curation"


def test_project_pages_link_to_the_browser(setup, client):
    project, _, owner, reviewer, _ = setup
    for user in (owner, reviewer):
        client.force_login(user)
        assert f"/projects/{project.slug}/items/" in client.get(f"/projects/{project.slug}/review/").content.decode()
        detail = client.get(f"/projects/{project.slug}/").content.decode()
        for link in ("items/", "review/", "quality/"):
            assert f'href="/projects/{project.slug}/{link}"' in detail


def test_example_images_from_confident_positives_only(setup, api_client, client):
    project, items, owner, *_ = setup
    category = items[0].category
    done = [i for i in items if i.status == "done" and i.label == 1 and i.confidence >= project.confidence_target]
    assert len(done) >= 2
    api_client.force_authenticate(owner)
    url = f"/api/projects/{project.slug}/items/bulk"
    r = api_client.post(url, {"action": "example", "items": [done[0].pk, items[10].pk]}, format="json")
    assert r.status_code == 400 and r.json()["code"] == "not_an_example"  # an open item: nothing changes
    assert not category.example_images.exists()
    r = api_client.post(url, {"action": "example", "items": [done[0].pk, done[1].pk]}, format="json")
    assert r.status_code == 200 and r.json()["changed"] == sorted([done[0].pk, done[1].pk])
    assert set(category.example_images.values_list("id", flat=True)) == {done[0].image_id, done[1].image_id}
    items_mark_gold(project=project, item_ids=[done[2].pk], label=1, user=owner)
    r = api_client.post(url, {"action": "example", "items": [done[2].pk]}, format="json")
    assert r.status_code == 400  # gold never becomes an example (it would show its answer)
    client.force_login(owner)
    html = client.get(f"/projects/{project.slug}/items/{done[0].pk}/").content.decode()
    assert f'data-testid="example-of">{category.name}</dd>' in html
    r = api_client.post(url, {"action": "unexample", "items": [done[0].pk]}, format="json")
    assert r.status_code == 200
    assert list(category.example_images.values_list("id", flat=True)) == [done[1].image_id]


@pytest.mark.parametrize("sort", ["id", "-id", "posterior", "-posterior", "uncertainty", "votes", "-votes"])
def test_pages_counted_from_either_end_tile_the_sorted_items(setup, sort, django_assert_max_num_queries):
    """A page in the second half is read in the reverse order from the end (issue 26: OFFSET walked every earlier
    item, 1.2 s for the last page of 100k): every sort, ties and missing posteriors included, gives each item on
    exactly one page, in the order of the whole sorted list, with the same statements on every page."""
    from labeling.selectors.curation import curation_page
    from tests.labeling.quality.qfactories import real_image

    project, items, *_ = setup
    for seed in range(12, 53):  # 53 items: pages of 24 are 24, 24 and 5; ties in votes and confidence
        Item.objects.create(project=project, image=real_image(7000 + seed), category=items[0].category,
                            votes_count=seed % 3, confidence=None if seed % 4 == 0 else (seed % 5) / 5)  # fmt: skip
    filters = CurationFilters(sort=sort)
    whole = [i.pk for i in curation_items(project=project, filters=filters)]
    assert len(whole) == 53
    pages = []
    for number in (1, 2, 3):
        with django_assert_max_num_queries(2):
            page = curation_page(project=project, filters=filters, page=number, size=24)
        pages.append([i.pk for i in page.items])
    assert [len(p) for p in pages] == [24, 24, 5]
    assert pages[0] + pages[1] + pages[2] == whole
