"""The assignment engine: which items a volunteer labels next, under leases. See assignment.md."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Collection, Iterable
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotate.conf import options
from labeling.models import Annotation, Item, Lease, Project, Skip
from labeling.services.quality import annotator_may_label

# A verify grid shows 12-24 items of one category (the API clamps n to this range).
GRID_MIN, GRID_MAX = 12, 24
MAX_BATCH = 50
# Clusters of the user's last RECENT_WINDOW answers are "recently seen": never offered again soon.
RECENT_WINDOW = 50
# Extra rows locked per request to absorb near-duplicates and leases found on re-check.
CANDIDATE_SLACK = 8
# A new verify grid's category is chosen among the next GRID_WINDOW x n candidates (see _grid_category).
GRID_WINDOW = 8

_rng = random.SystemRandom()


def lease_ttl() -> timedelta:
    return timedelta(seconds=options().LEASE_TTL_SECONDS)


def skip_cooldown() -> timedelta:
    return timedelta(seconds=options().SKIP_COOLDOWN_SECONDS)


def _cluster_expr() -> Coalesce:
    return Coalesce(F("image__canonical_id"), F("image_id"), output_field=IntegerField())


def _active_leases_subquery(now) -> Subquery:
    return Subquery(
        Lease.objects.filter(item_id=OuterRef("pk"), expires_at__gt=now)
        .order_by()
        .values("item_id")
        .annotate(c=Count("id"))
        .values("c")[:1],
        output_field=IntegerField(),
    )


def _candidates(
    *, user, project: Project, now, recent_clusters: set[int], exclude_ids: set[int], only_ids: set[int] | None
) -> QuerySet:
    """Items this user may be offered (gold or not): not answered, not leased, not skipped lately,
    not a near-duplicate of something seen recently. The same shape for gold and regular work."""
    qs = (
        Item.objects.filter(project=project)
        .exclude(status=Item.Status.REJECTED)
        .alias(cluster=_cluster_expr())
        .filter(~Exists(Annotation.objects.filter(item_id=OuterRef("pk"), user=user)))
        .filter(~Exists(Lease.objects.filter(item_id=OuterRef("pk"), user=user, expires_at__gt=now)))
        .filter(~Exists(Skip.objects.filter(item_id=OuterRef("pk"), user=user, created_at__gt=now - skip_cooldown())))
    )
    if recent_clusters:
        qs = qs.exclude(cluster__in=recent_clusters)
    if exclude_ids:
        qs = qs.exclude(pk__in=exclude_ids)
    if only_ids is not None:
        qs = qs.filter(pk__in=only_ids)
    return qs


def _regular(qs: QuerySet, now) -> QuerySet:
    return (
        qs.filter(is_gold=False, status=Item.Status.OPEN, votes_count__lt=F("needed_votes"))
        .alias(active=Coalesce(_active_leases_subquery(now), Value(0)))
        .filter(votes_count__lt=F("needed_votes") - F("active"))
        .order_by("votes_count", "-priority", "id")
    )


def _gold(qs: QuerySet) -> QuerySet:
    # Gold is shown to every volunteer once (their accuracy is measured on it), whatever its vote count.
    return qs.filter(is_gold=True).order_by("votes_count", "-priority", "id")


def _lock(qs: QuerySet, limit: int) -> list[Item]:
    """Lock up to `limit` rows, skipping rows other volunteers hold. The query runs even for limit 0
    (then LIMIT 1, result dropped) so the mix of gold and regular work leaves no timing signal."""
    locking = qs.select_related("image", "category").select_for_update(skip_locked=True, of=("self",))
    rows = list(locking[: max(limit, 1)])
    return rows[:limit]


def _one_per_cluster(items: Iterable[Item], seen: set[int], limit: int) -> list[Item]:
    chosen = []
    for item in items:
        if len(chosen) >= limit:
            break
        cluster = item.image.canonical_id or item.image_id
        if cluster in seen:
            continue
        seen.add(cluster)
        chosen.append(item)
    return chosen


def _gold_quota(*, project: Project, k: int, answered: int, gold_answered: int, gold_held: int) -> tuple[int, bool]:
    """(gold items to include among k new ones, whether the user is still in qualification)."""
    gold_so_far = gold_answered + gold_held
    if gold_so_far < project.qualification_size:
        return min(k, project.qualification_size - gold_so_far), True
    target = round((answered + gold_held + k) * project.gold_rate) - gold_so_far
    return max(0, min(k, target)), False


def next_items(
    *, user, project: Project, n: int, exclude_ids: Iterable[int] = (), only_ids: Iterable[int] | None = None
) -> list[Item]:
    """Up to n items for `user`, leased to them. The user's still-active leases come first (a reload
    does not burn items), except `exclude_ids` (the batch on screen, so a preload gets fresh work).
    `only_ids` limits the offer to those items (an annotator who can answer only some of them, like the
    replay's simulated workers; cheaper than excluding every other item)."""
    n = max(0, min(int(n), MAX_BATCH))
    if n == 0 or not annotator_may_label(user=user, project=project):
        return []
    exclude = {int(i) for i in exclude_ids}
    only = None if only_ids is None else {int(i) for i in only_ids}
    if only is not None and not only:
        return []
    verify = project.task_type == Project.TaskType.VERIFY
    with transaction.atomic():
        now = timezone.now()
        held_qs = Item.objects.filter(project=project, leases__user=user, leases__expires_at__gt=now)
        if only is not None:
            held_qs = held_qs.filter(pk__in=only)
        held = list(
            held_qs.filter(Q(status=Item.Status.OPEN) | Q(is_gold=True))
            .exclude(pk__in=exclude)
            .select_related("image", "category")
            .order_by("leases__created_at", "id")[: n * 2]
        )
        if verify and held:
            held = [item for item in held if item.category_id == held[0].category_id]
        held = held[:n]
        k = n - len(held)
        if k == 0:
            _renew(user=user, items=held, now=now)
            return held

        history = Annotation.objects.filter(user=user, item__project=project).aggregate(
            total=Count("id"), gold=Count("id", filter=Q(item__is_gold=True))
        )
        recent = set(
            Annotation.objects.filter(user=user, item__project=project)
            .order_by("-id")
            .annotate(cluster=Coalesce(F("item__image__canonical_id"), F("item__image_id")))
            .values_list("cluster", flat=True)[:RECENT_WINDOW]
        )
        seen = recent | {item.image.canonical_id or item.image_id for item in held}
        base = _candidates(
            user=user,
            project=project,
            now=now,
            recent_clusters=seen,
            exclude_ids=exclude | {i.pk for i in held},
            only_ids=only,
        )
        gold_held = sum(1 for item in held if item.is_gold)
        if exclude and history["gold"] < project.qualification_size:
            # Qualification gold on screen (excluded from this offer, e.g. a preload) still counts: otherwise a
            # preload would hand out a second qualification set (one count query, during qualification only).
            gold_held += held_qs.filter(pk__in=exclude, is_gold=True).count()
        n_gold, qualifying = _gold_quota(
            project=project, k=k, answered=history["total"], gold_answered=history["gold"], gold_held=gold_held
        )

        category_id = held[0].category_id if (verify and held) else None
        if verify and category_id is None:
            category_id = _grid_category(_gold(base), n) if qualifying else None
            if category_id is None:  # regular work (also when no qualification gold is left)
                category_id = _grid_category(_regular(base, now), n)
            if category_id is None:
                return []
        if verify:
            base = base.filter(category_id=category_id)

        gold = _one_per_cluster(_lock(_gold(base), n_gold + CANDIDATE_SLACK if n_gold else 0), seen, n_gold)
        n_regular = k - len(gold) if (not qualifying or len(gold) < n_gold) else 0
        locked = _lock(_regular(base, now), n_regular * 2 + CANDIDATE_SLACK if n_regular else 0)
        regular = _one_per_cluster(_still_open(locked, now), seen, n_regular)

        fresh = list(regular)
        for item in gold:  # gold at random positions among the regular items
            fresh.insert(_rng.randrange(len(fresh) + 1), item)
        # Qualification gold is practice: its answers come back with the right answer (annotation_submit).
        _grant(user=user, items=fresh, now=now, practice={item.pk for item in gold} if qualifying else set())
        _renew(user=user, items=held, now=now)
        return held + fresh


def _grid_category(queue: QuerySet, n: int) -> int | None:
    """The category of a new verify grid: the first, in queue order, with a full grid (n) among the next
    GRID_WINDOW x n candidates, else the one with most of them. Taking the category of the first candidate alone
    gave fragments (a grid of the 2 items left in a category while another had hundreds; assignment.md)."""
    window = list(queue.values_list("category_id", flat=True)[: n * GRID_WINDOW])
    if not window:
        return None
    counts = Counter(window)  # insertion order = queue order of each category's first candidate
    full = next((c for c, k in counts.items() if k >= n), None)
    return full if full is not None else max(counts, key=counts.__getitem__)


def _still_open(items: list[Item], now) -> list[Item]:
    """Re-count active leases with the rows locked (the authoritative check: leases are only granted
    or removed while the item row is locked)."""
    if not items:
        return []
    counts = dict(
        Lease.objects.filter(item_id__in=[i.pk for i in items], expires_at__gt=now)
        .order_by()
        .values("item_id")
        .annotate(c=Count("id"))
        .values_list("item_id", "c")
    )
    return [i for i in items if i.status == Item.Status.OPEN and i.votes_count + counts.get(i.pk, 0) < i.needed_votes]


def _grant(*, user, items: list[Item], now, practice: Collection[int] = ()) -> None:
    if not items:
        return
    expires = now + lease_ttl()
    Lease.objects.bulk_create(
        [
            Lease(item=item, user=user, expires_at=expires, created_at=now, practice=item.pk in practice)
            for item in items
        ],
        update_conflicts=True,  # the user's own expired lease on the item is reclaimed
        unique_fields=["item", "user"],
        update_fields=["expires_at", "created_at", "practice"],
    )


def _renew(*, user, items: list[Item], now) -> None:
    if items:
        Lease.objects.filter(user=user, item__in=items).update(expires_at=now + lease_ttl())


def leases_release(*, user, project: Project) -> int:
    """Give back every lease the user holds in the project (e.g. when they leave the page)."""
    deleted, _ = Lease.objects.filter(user=user, item__project=project).delete()
    return deleted


def leases_purge_expired(*, older_than: timedelta = timedelta(days=1)) -> int:
    """Housekeeping: drop leases that expired long ago (late answers on them are no longer accepted)."""
    deleted, _ = Lease.objects.filter(expires_at__lt=timezone.now() - older_than).delete()
    return deleted
