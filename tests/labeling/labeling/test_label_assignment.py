"""Assignment engine: order, leases, expiry, never twice, near-duplicates, one category per grid, gold mix."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Item, Lease, Skip
from labeling.services.annotations import annotation_submit, item_skip
from labeling.services.assignment import next_items
from tests.helpers.factories import make_image_row, make_project_with_items

pytestmark = pytest.mark.django_db


def answer(user, project, item, label=1):
    return annotation_submit(
        user=user, project=project, item_id=item.id, submission_id=uuid.uuid4(), answer={"label": label}
    )


def test_started_items_first_then_fewest_votes_then_priority_then_id(make_user):
    """Issue 22: started items (with votes) come before fresh ones, so items finish and overlap exists early
    (ImageNet finished a synset's candidates before opening more); within each, fewest votes, priority, id."""
    project, items = make_project_with_items(n_items=6, categories=("cat",), needed_votes=5)
    a, b, c, d, e, f = items
    Item.objects.filter(pk__in=[a.pk, b.pk]).update(votes_count=2)
    Item.objects.filter(pk=c.pk).update(votes_count=1)
    Item.objects.filter(pk=e.pk).update(priority=5.0)
    got = next_items(user=make_user("v"), project=project, n=6)
    assert [i.pk for i in got] == [c.pk, a.pk, b.pk, e.pk, d.pk, f.pk]


def test_only_ids_limits_the_offer_and_the_held_leases(make_user):
    project, items = make_project_with_items(n_items=8, categories=("cat",))
    user = make_user("v")
    held = next_items(user=user, project=project, n=2)  # the two first items, leased
    allowed = {items[5].pk, items[6].pk, held[0].pk}
    got = next_items(user=user, project=project, n=8, only_ids=allowed)
    assert {i.pk for i in got} == allowed and got[0].pk == held[0].pk  # the held lease inside the set first
    assert next_items(user=user, project=project, n=8, only_ids=[]) == []


def test_leases_are_granted_and_a_reload_returns_the_same_items(make_user):
    project, _ = make_project_with_items(n_items=30, categories=("cat",))
    user = make_user("v")
    first = next_items(user=user, project=project, n=12)
    assert len(first) == 12
    assert Lease.objects.filter(user=user).count() == 12
    again = next_items(user=user, project=project, n=12)
    assert [i.pk for i in again] == [i.pk for i in first]
    assert Lease.objects.filter(user=user).count() == 12
    preload = next_items(user=user, project=project, n=12, exclude_ids=[i.pk for i in first])
    assert not {i.pk for i in preload} & {i.pk for i in first}
    assert Lease.objects.filter(user=user).count() == 24


def test_never_the_same_item_twice_to_one_user(make_user):
    project, items = make_project_with_items(n_items=5, categories=("cat",), needed_votes=3)
    user = make_user("v")
    seen = []
    for _ in range(4):
        batch = next_items(user=user, project=project, n=2)
        for item in batch:
            answer(user, project, item)
        seen += [i.pk for i in batch]
    assert sorted(seen) == sorted(i.pk for i in items)
    assert next_items(user=user, project=project, n=5) == []


def test_an_item_is_never_over_assigned(make_user):
    project, (item,) = make_project_with_items(n_items=1, categories=("cat",), needed_votes=2)
    u1, u2, u3 = make_user("a"), make_user("b"), make_user("c")
    assert next_items(user=u1, project=project, n=3) == [item]
    assert next_items(user=u2, project=project, n=3) == [item]
    assert next_items(user=u3, project=project, n=3) == []
    answer(u1, project, item)
    assert next_items(user=u3, project=project, n=3) == []  # 1 vote + 1 active lease = 2 needed


def test_expired_leases_are_reclaimed(make_user):
    project, (item,) = make_project_with_items(n_items=1, categories=("cat",), needed_votes=1)
    u1, u2 = make_user("a"), make_user("b")
    assert next_items(user=u1, project=project, n=1) == [item]
    assert next_items(user=u2, project=project, n=1) == []
    Lease.objects.filter(user=u1).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert next_items(user=u2, project=project, n=1) == [item]
    # u1 comes back: the item is now u2's; u1's old lease is reclaimed, not reused.
    assert next_items(user=u1, project=project, n=1) == []


def test_lease_ttl_comes_from_settings(make_user, settings):
    settings.ANNOTATE = {**settings.ANNOTATE, "LEASE_TTL_SECONDS": 90}
    project, _ = make_project_with_items(n_items=1, categories=("cat",))
    user = make_user("v")
    before = timezone.now()
    next_items(user=user, project=project, n=1)
    lease = Lease.objects.get(user=user)
    assert timedelta(seconds=89) <= lease.expires_at - before <= timedelta(seconds=91)


def test_near_duplicates_of_recently_seen_images_are_not_offered(make_user):
    project, items = make_project_with_items(n_items=3, categories=("cat",), needed_votes=3)
    first = items[0]
    twin_image = make_image_row(seed=999, canonical=first.image)
    twin = Item.objects.create(project=project, image=twin_image, category=first.category, needed_votes=3)
    user = make_user("v")
    batch = next_items(user=user, project=project, n=10)
    clusters = [i.image.canonical_id or i.image_id for i in batch]
    assert len(clusters) == len(set(clusters)), "two items of one near-duplicate cluster in one batch"
    assert twin.pk not in [i.pk for i in batch]
    for item in batch:
        answer(user, project, item)
    assert twin.pk not in [i.pk for i in next_items(user=user, project=project, n=10)]
    # another volunteer who has not seen the cluster gets one of the pair, never both in one batch
    other = make_user("x")
    got = [i.pk for i in next_items(user=other, project=project, n=10)]
    assert (first.pk in got) != (twin.pk in got)


def test_verify_grid_is_one_category(make_user):
    project, items = make_project_with_items(n_items=40, categories=("cat", "dog", "owl"))
    user = make_user("v")
    batch = next_items(user=user, project=project, n=12)
    assert len(batch) == 12 or len({i.category_id for i in items}) > 1
    assert len({i.category_id for i in batch}) == 1
    second = next_items(user=user, project=project, n=12, exclude_ids=[i.pk for i in batch])
    assert len({i.category_id for i in second}) == 1


def test_skipped_items_are_not_offered_again_soon(make_user):
    project, _items = make_project_with_items(n_items=3, categories=("cat",))
    user = make_user("v")
    batch = next_items(user=user, project=project, n=1)
    item_skip(user=user, project=project, item_id=batch[0].pk)
    assert Skip.objects.filter(user=user, item=batch[0]).count() == 1
    later = next_items(user=user, project=project, n=3)
    assert batch[0].pk not in [i.pk for i in later]
    assert len(later) == 2


def test_gold_is_mixed_in_at_the_project_rate(make_user):
    project, _ = make_project_with_items(n_items=200, gold=60, categories=("cat",), gold_rate=0.2)
    user = make_user("v")
    served = []
    for _ in range(8):
        batch = next_items(user=user, project=project, n=10)
        for item in batch:
            answer(user, project, item)
        served += batch
    gold_share = sum(i.is_gold for i in served) / len(served)
    assert len(served) == 80
    assert 0.15 <= gold_share <= 0.25, gold_share
    positions = [j for j, i in enumerate(served) if i.is_gold]
    assert len({p % 10 for p in positions}) > 1, "gold always at the same position in a batch"


def test_qualification_set_comes_first_for_new_volunteers(make_user):
    project, _ = make_project_with_items(n_items=30, gold=10, categories=("cat",), gold_rate=0.0, qualification_size=4)
    user = make_user("v")
    first = next_items(user=user, project=project, n=12)
    assert len(first) == 4 and all(i.is_gold for i in first)
    for item in first:
        answer(user, project, item)
    after = next_items(user=user, project=project, n=12)
    assert len(after) == 12 and not any(i.is_gold for i in after)


def test_gold_and_regular_items_look_the_same_in_the_api(make_user, api_client):
    project, _ = make_project_with_items(n_items=20, gold=20, categories=("cat",), gold_rate=0.5)
    user = make_user("v")
    api_client.force_authenticate(user)
    response = api_client.get(f"/api/projects/{project.slug}/next?n=24")
    assert response.status_code == 200
    payload = response.json()
    gold_ids = set(Item.objects.filter(project=project, is_gold=True).values_list("id", flat=True))
    gold = [i for i in payload["items"] if i["id"] in gold_ids]
    regular = [i for i in payload["items"] if i["id"] not in gold_ids]
    assert gold and regular
    assert {frozenset(i) for i in gold} == {frozenset(i) for i in regular}

    def shape(url: str) -> str:
        return re.sub(r"[0-9a-f]{64}", "<sha>", re.sub(r"/[0-9a-f]{2}/[0-9a-f]{2}/", "/<xx>/<yy>/", url))

    for key in ("thumbnail_url", "image_url"):
        assert {shape(i[key]) for i in gold} == {shape(i[key]) for i in regular}
    assert "gold" not in response.content.decode().lower()
    # ids come from one sequence: gold ids interleave with regular ones in the table
    assert min(gold_ids) < max(i["id"] for i in regular)


def test_blocked_annotators_get_no_work(make_user):
    from labeling.services.quality import annotator_block

    project, _ = make_project_with_items(n_items=5, categories=("cat",))
    user = make_user("v")
    annotator_block(project=project, user=user, by=None, reason="spam")
    assert next_items(user=user, project=project, n=5) == []
    assert Lease.objects.filter(user=user).count() == 0


def _available(project, user) -> dict[int, int]:
    """Open items per category this user could still be offered (not answered, not leased by anyone)."""
    from collections import Counter

    from labeling.models import Annotation

    answered = Annotation.objects.filter(user=user).values("item_id")
    leased = Lease.objects.filter(expires_at__gt=timezone.now()).values("item_id")
    rows = Item.objects.filter(project=project, status="open").exclude(pk__in=answered).exclude(pk__in=leased)
    return Counter(rows.values_list("category_id", flat=True))


def test_verify_grids_are_full_while_some_category_has_enough_items(make_user):
    """A category down to its last 2 items must not become a 2-tile grid while another has dozens."""
    project, items = make_project_with_items(n_items=120, categories=("a", "b"), needed_votes=1)
    a = items[0].category_id
    Item.objects.filter(pk__in=[i.pk for i in items if i.category_id == a][20:]).delete()  # a: 20, b: 60
    user, sizes = make_user("v"), []
    while True:
        most = max(_available(project, user).values(), default=0)
        grid = next_items(user=user, project=project, n=18)
        if not grid:
            break
        assert len({i.category_id for i in grid}) == 1
        assert len(grid) == min(18, most) or most < 18, (sizes, len(grid), most)
        sizes.append(len(grid))
        preload = next_items(user=user, project=project, n=18, exclude_ids=[i.pk for i in grid])  # the page's
        for item in grid + preload:
            answer(user, project, item)
        if preload:
            sizes.append(len(preload))
    assert sizes == [18, 18, 18, 18, 6, 2], sizes  # before: 18, 2, 18, 18, 18, 6
    assert sum(sizes) == 80
