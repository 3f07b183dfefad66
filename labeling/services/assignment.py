"""The assignment engine: which items a volunteer labels next, under leases. See assignment.md."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotate.conf import options
from annotate.db import IdList
from labeling.models import Annotation, Item, Lease, Project, Skip
from labeling.services.quality import blocked_score

# A verify grid shows 12-24 items of one category (the API clamps n to this range).
GRID_MIN, GRID_MAX = 12, 24
MAX_BATCH = 50
# Clusters of the user's last RECENT_WINDOW answers are "recently seen": never offered again soon.
RECENT_WINDOW = 50
# Extra rows locked per request to absorb near-duplicates and leases found on re-check.
CANDIDATE_SLACK = 8
# A new verify grid's category is chosen among the next GRID_WINDOW x n candidates (see _grid_category).
GRID_WINDOW = 8

# A lease granted this long ago whose holder has not answered is an idle tab's: it no longer keeps the item from
# a volunteer who is waiting for work (its holder's late answer is still taken while the item needs votes).
IDLE_LEASE = timedelta(minutes=3)
# A preloaded batch (the request names the batch on screen) is held for this share of the lease TTL only: it
# is not being looked at yet, and a closed tab should not lock it for the whole TTL.
PRELOAD_TTL_SHARE = 1 / 3

_rng = random.SystemRandom()


def lease_ttl() -> timedelta:
    return timedelta(seconds=options().LEASE_TTL_SECONDS)


def skip_cooldown() -> timedelta:
    return timedelta(seconds=options().SKIP_COOLDOWN_SECONDS)


def _cluster_expr() -> Coalesce:
    return Coalesce(F("image__canonical_id"), F("image_id"), output_field=IntegerField())


def _active_leases_subquery(now) -> Subquery:
    """Leases that keep an item from others: not expired, and not an idle tab's (IDLE_LEASE)."""
    return Subquery(
        Lease.objects.filter(item_id=OuterRef("pk"), expires_at__gt=now, created_at__gt=now - IDLE_LEASE)
        .order_by()
        .values("item_id")
        .annotate(c=Count("id"))
        .values("c")[:1],
        output_field=IntegerField(),
    )


def _held(*, user, project, now, only: IdList | None) -> QuerySet:
    """The user's active leases in the project on items that still want an answer (`project` may be an
    OuterRef). Read from the user's own leases (a handful), never by walking the project's items."""
    qs = Lease.objects.filter(user=user, expires_at__gt=now, item__project=project).filter(
        Q(item__status=Item.Status.OPEN) | Q(item__is_gold=True)
    )
    if only is not None:
        qs = qs.filter(item__id__any_of=only)
    return qs


def _count(qs: QuerySet, group: str) -> Coalesce:
    return Coalesce(
        Subquery(qs.order_by().values(group).annotate(c=Count("id")).values("c")[:1], output_field=IntegerField()),
        Value(0),
    )


def _context(*, user, project: Project, now, exclude: set[int], only: IdList | None) -> dict:
    """What next_items must know before it locks anything, in one statement: whether the user is blocked, holds
    leases outside `exclude`, how many answers (and gold answers) they have, and how much qualification gold
    of theirs is on screen (in `exclude`: a preload must not hand out a second qualification set)."""
    mine = Annotation.objects.filter(user=user, item__project=OuterRef("pk"))
    held = _held(user=user, project=OuterRef("pk"), now=now, only=only)
    others = held.exclude(item_id__in=exclude) if exclude else held
    return (
        Project.objects.filter(pk=project.pk)
        .annotate(
            blocked=Exists(blocked_score(project=OuterRef("pk"), user=user)),
            holds=Exists(others),
            answered=_count(mine, "user_id"),
            gold_answered=_count(mine.filter(item__is_gold=True), "user_id"),
            gold_on_screen=_count(held.filter(item_id__in=exclude, item__is_gold=True), "user_id")
            if exclude
            else Value(0),
            recent_clusters=_recent_clusters(user=user, project=project),
        )
        .values("blocked", "holds", "answered", "gold_answered", "gold_on_screen", "recent_clusters")
        .get()
    )


def _recent_clusters(*, user, project) -> RawSQL:
    """The near-duplicate clusters of the user's last RECENT_WINDOW answers in `project`, as one comma-separated
    string (a subquery of the context statement); the candidate statements exclude them as a list.

    Newest first by (user, created_at)'s index: ordering by id alone walked the whole vote table's primary key
    backwards to find a newcomer's few votes (64 ms at 500k votes). As a subquery of the candidate statements,
    PostgreSQL charged its cost on every row of a nested loop and chose a sequential scan of every image of the
    project instead (~25 ms a statement at 100k images); a list of at most 50 ids costs nothing to plan."""
    recent = (
        Annotation.objects.filter(user=user, item__project=project)
        .order_by("-created_at", "-id")
        .annotate(cluster=Coalesce(F("item__image__canonical_id"), F("item__image_id")))
        .values("cluster")[:RECENT_WINDOW]
    )
    sql, params = recent.query.sql_with_params()
    joined = (
        "GROUP_CONCAT(r.cluster, ',')" if connection.vendor == "sqlite" else "STRING_AGG(CAST(r.cluster AS TEXT), ',')"
    )
    # the ORM's own SQL, every value a parameter
    return RawSQL(f"SELECT {joined} FROM ({sql}) r", params)  # noqa: S608, S611


def _cluster_ids(joined: str | None) -> list[int]:
    return [int(v) for v in joined.split(",")] if joined else []


def _candidates(
    *, user, project: Project, now, exclude_ids: set[int], only_ids: IdList | None, recent_clusters: list[int]
) -> QuerySet:
    """Items this user may be offered (gold or not): not answered, not leased, not skipped lately, not a
    near-duplicate of their last RECENT_WINDOW answers (`recent_clusters`, read by the context statement).
    The same shape for gold and regular work."""
    qs = (
        Item.objects.filter(project=project)
        .exclude(status=Item.Status.REJECTED)
        .filter(~Exists(Annotation.objects.filter(item_id=OuterRef("pk"), user=user)))
        .filter(~Exists(Lease.objects.filter(item_id=OuterRef("pk"), user=user, expires_at__gt=now)))
        .filter(~Exists(Skip.objects.filter(item_id=OuterRef("pk"), user=user, created_at__gt=now - skip_cooldown())))
    )
    if recent_clusters:
        qs = qs.alias(cluster=_cluster_expr()).exclude(cluster__in=recent_clusters)
    if exclude_ids:
        qs = qs.exclude(pk__in=exclude_ids)
    if only_ids is not None:
        qs = qs.filter(pk__any_of=only_ids)
    return qs


def _regular(qs: QuerySet, now) -> QuerySet:
    return (
        qs.filter(is_gold=False, status=Item.Status.OPEN, votes_count__lt=F("needed_votes"))
        .alias(active=Coalesce(_active_leases_subquery(now), Value(0)))
        .filter(votes_count__lt=F("needed_votes") - F("active"))
        .order_by("votes_count", "-priority", "id")
    )


def _concentrates(project: Project) -> bool:
    """Every task type finishes started items before opening new ones (ImageNet finished a synset's candidates
    before opening more): votes land on the same items, so items finish and overlap to score annotators on
    exists early. A new verify grid's category is peeked from the most-voted open items (_grid_category)."""
    return True


def _gold(qs: QuerySet) -> QuerySet:
    # Gold is shown to every volunteer once (their accuracy is measured on it), whatever its vote count.
    return qs.filter(is_gold=True).order_by("votes_count", "-priority", "id")


def _lock(
    gold: QuerySet, gold_limit: int, regular: QuerySet, regular_limit: int, *, started_first: bool = False
) -> tuple[list[Item], list[Item]]:
    """Lock up to `gold_limit` gold and `regular_limit` regular rows in queue order, skipping rows other
    volunteers hold, in one statement: each queue is a CTE that walks its partial index with
    `FOR UPDATE SKIP LOCKED` and stops at its limit (an OR of the two in one WHERE would sort the project).
    A queue with limit 0 still runs (LIMIT 1, rows dropped) so the mix of gold and regular work leaves no
    timing signal. The rows come back in queue order, gold first. `started_first`: the regular queue is two walks
    of the same index, items with votes (started) and items without, and started items come first (_concentrates).
    """
    ctes, params = [], []
    queues = [("gold", gold, gold_limit), ("regular", regular, regular_limit)]
    if started_first:
        queues = [queues[0], ("regular", regular.filter(votes_count__gt=0), regular_limit),
                  ("fresh", regular.filter(votes_count=0), regular_limit)]  # fmt: skip
    for name, qs, limit in queues:
        # Gold is read without row locks: every volunteer sees the same gold rows, and SKIP LOCKED let one
        # volunteer's open transaction hide them from a newcomer's qualification (issue 22, finding 21).
        queue = qs if name == "gold" else qs.select_for_update(skip_locked=True, of=("self",))
        locking = queue.values("pk")[: max(limit, 1)]
        sql, sql_params = locking.query.sql_with_params()
        ctes.append(f"{name}_queue (item_id) AS ({sql})")
        params.extend(sql_params)
    union = " UNION ALL ".join(f"SELECT item_id FROM {name}_queue" for name, _qs, _limit in queues)  # noqa: S608
    locked_ids = RawSQL(  # noqa: S611 - the CTE bodies are the ORM's own SQL, every value a parameter
        f"WITH {', '.join(ctes)} {union}",
        params,
    )
    rows = list(
        Item.objects.filter(pk__in=locked_ids)
        .select_related("image", "category")
        .order_by(F("is_gold").desc(), "votes_count", "-priority", "id")
    )
    gold_rows = [item for item in rows if item.is_gold][:gold_limit]
    regular_rows = [item for item in rows if not item.is_gold]
    if started_first:  # stable: queue order within started and within fresh items
        regular_rows.sort(key=lambda item: item.votes_count == 0)
    regular_rows = regular_rows[:regular_limit]
    return gold_rows, regular_rows


def _gold_cap(regular: int, rate: float) -> int:
    """The most gold a batch with `regular` regular items may carry outside qualification: the gold rate's share
    of the batch, rounded up, and none without regular work (a batch of gold only would mark them)."""
    if regular <= 0 or rate <= 0:
        return 0
    return math.ceil(regular * rate / max(1e-9, 1.0 - rate))


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
    replay's simulated workers; cheaper than excluding every other item).

    Four statements for a fresh grid (assignment.md, "Queries"): the context, the verify grid's category,
    the lock of both queues, and the lease upsert that re-counts the locked rows' leases."""
    n = max(0, min(int(n), MAX_BATCH))
    exclude = {int(i) for i in exclude_ids}
    only = None if only_ids is None else IdList(only_ids)
    if n == 0 or (only is not None and not only):
        return []
    verify = project.task_type == Project.TaskType.VERIFY
    with transaction.atomic():
        now = timezone.now()
        context = _context(user=user, project=project, now=now, exclude=exclude, only=only)
        if context["blocked"]:
            return []
        if not context["answered"]:  # a newcomer: items that waited for someone who has not seen them reopen
            from labeling.services.quality.stalled import items_reopen_for_newcomer

            items_reopen_for_newcomer(project=project, exclude=[])
        held: list[Item] = []
        if context["holds"]:
            leases = _held(user=user, project=project, now=now, only=only)
            held = [
                lease.item
                for lease in (leases.exclude(item_id__in=exclude) if exclude else leases)
                .select_related("item__image", "item__category")
                .order_by("created_at", "item_id")[: n * 2]
            ]
            if verify and held:
                held = [item for item in held if item.category_id == held[0].category_id]
            held = held[:n]
        k = n - len(held)
        if k and project.budget_cents is not None:  # crowdpay: never lease work the budget cannot pay
            from crowdpay.services.budget import budget_room

            k = budget_room(project=project, wanted=k, now=now)
        ttl = lease_ttl() * PRELOAD_TTL_SHARE if exclude else lease_ttl()
        if k == 0:
            _grant(user=user, held=held, now=now, ttl=ttl)
            return held

        seen = {item.image.canonical_id or item.image_id for item in held}
        base = _candidates(
            user=user,
            project=project,
            now=now,
            exclude_ids=exclude | {i.pk for i in held},
            only_ids=only,
            recent_clusters=_cluster_ids(context["recent_clusters"]),
        )
        gold_held = sum(1 for item in held if item.is_gold) + context["gold_on_screen"]
        n_gold, qualifying = _gold_quota(
            project=project,
            k=k,
            answered=context["answered"],
            gold_answered=context["gold_answered"],
            gold_held=gold_held,
        )

        category_id = held[0].category_id if (verify and held) else None
        if verify and category_id is None:
            category_id = _grid_category(_gold(base), n) if qualifying else None
            if category_id is None:  # regular work (also when no qualification gold is left)
                # the category of the open items closest to finishing: the index walked backwards, no sort
                category_id = _grid_category(_regular(base, now).order_by("-votes_count", "priority", "-id"), n)
            if category_id is None:
                return []
        if verify:
            base = base.filter(category_id=category_id)

        gold_rows, regular_rows = _lock(
            _gold(base),
            n_gold + CANDIDATE_SLACK if n_gold else 0,
            _regular(base, now),
            k * 2 + CANDIDATE_SLACK,
            started_first=_concentrates(project),
        )
        if not qualifying:  # gold only beside regular work: the mix never depends on what others hold
            n_gold = min(n_gold, _gold_cap(len(_one_per_cluster(regular_rows, set(seen), k)), project.gold_rate))
        gold = _one_per_cluster(gold_rows, seen, n_gold)
        n_regular = k - len(gold) if (not qualifying or len(gold) < n_gold) else 0
        candidates = _one_per_cluster(regular_rows, seen, len(regular_rows)) if n_regular else []
        # Qualification gold is practice: its answers come back with the right answer (annotation_submit).
        granted = _grant(
            user=user,
            held=held,
            gold=gold,
            regular=candidates,
            n_regular=n_regular,
            now=now,
            practice=qualifying,
            ttl=ttl,
        )
        fresh = [item for item in candidates if item.pk in granted]
        if gold and not qualifying and not fresh:  # the re-check took every regular item: no gold-only batch
            Lease.objects.filter(user=user, item_id__in=[item.pk for item in gold]).delete()
            gold = []
        for item in gold:  # gold at random positions among the regular items
            fresh.insert(_rng.randrange(len(fresh) + 1), item)
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


_HELD, _GOLD, _REGULAR = 0, 1, 2


def _grant(
    *,
    user,
    now,
    held: list[Item] = (),
    gold: list[Item] = (),
    regular: list[Item] = (),
    n_regular: int = 0,
    practice: bool = False,
    ttl: timedelta | None = None,
) -> set[int]:
    """Lease items to the user in one statement; returns the ids leased.

    Held leases are renewed (their grant time and practice flag kept) and gold is granted as is. Regular
    candidates are re-checked first: their active leases are counted again in this new statement (READ COMMITTED
    sees every lease committed since the lock's snapshot; no one can add one now, the rows are locked), and the
    first `n_regular` that still want a vote, in the given order, are granted. The user's own expired lease on
    an item is reclaimed (the upsert overwrites it)."""
    rows = [(item.pk, _HELD, False) for item in held]
    rows += [(item.pk, _GOLD, practice) for item in gold]
    rows += [(item.pk, _REGULAR, False) for item in regular[: n_regular * 2 + CANDIDATE_SLACK]]
    if not rows:
        return set()
    quote = connection.ops.quote_name
    lease, item = quote(Lease._meta.db_table), quote(Item._meta.db_table)
    at = connection.ops.adapt_datetimefield_value
    values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
    params: list = [v for order, (pk, kind, flag) in enumerate(rows) for v in (pk, order, kind, flag)]
    sql = f"""
        WITH candidate (item_id, ord, kind, practice) AS (VALUES {values}),
        open_candidate AS (
            SELECT c.item_id, c.kind, c.practice, ROW_NUMBER() OVER (PARTITION BY c.kind ORDER BY c.ord) AS rank
            FROM candidate c JOIN {item} i ON i.id = c.item_id
            WHERE c.kind <> %s OR (
                i.status = %s AND i.votes_count + (
                    SELECT COUNT(*) FROM {lease} l
                    WHERE l.item_id = c.item_id AND l.expires_at > %s AND l.created_at > %s
                ) < i.needed_votes
            )
        )
        INSERT INTO {lease} (item_id, user_id, expires_at, created_at, practice)
        SELECT item_id, %s, %s, %s, practice FROM open_candidate WHERE kind <> %s OR rank <= %s
        ON CONFLICT (item_id, user_id) DO UPDATE SET
            expires_at = excluded.expires_at,
            created_at = CASE WHEN {lease}.expires_at > %s THEN {lease}.created_at ELSE excluded.created_at END,
            practice = CASE WHEN {lease}.expires_at > %s THEN {lease}.practice ELSE excluded.practice END
        RETURNING item_id
    """  # noqa: S608 - table names from the models, values as parameters
    params += [_REGULAR, Item.Status.OPEN.value, at(now), at(now - IDLE_LEASE)]
    params += [user.pk, at(now + (ttl or lease_ttl())), at(now), _REGULAR, n_regular, at(now), at(now)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def leases_release(*, user, project: Project, item_ids: Iterable[int] | None = None) -> int:
    """Give back the user's leases in the project (all, or those on `item_ids`: the batches a closed tab held,
    sent by the page on `pagehide`)."""
    qs = Lease.objects.filter(user=user, item__project=project)
    if item_ids is not None:
        qs = qs.filter(item_id__in=[int(i) for i in item_ids][: MAX_BATCH * 2])
    deleted, _ = qs.delete()
    return deleted


def leases_purge_expired(*, older_than: timedelta = timedelta(days=1)) -> int:
    """Housekeeping: drop leases that expired long ago (late answers on them are no longer accepted)."""
    deleted, _ = Lease.objects.filter(expires_at__lt=timezone.now() - older_than).delete()
    return deleted
