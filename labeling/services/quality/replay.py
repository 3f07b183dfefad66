"""Replay a real crowd label file through the services the web uses (the `replay_crowd` command; see quality.md).

A throw-away `classify` project is created with one category per label value (classify for every set, binary
ones included: one code path, and label values like temp's "1"/"2" need no mapping), one item per file item (each
on its own placeholder image row, never served as a file), one user per worker. Then workers arrive in a
seeded random order; each arrival asks the assignment engine (`next_items`) for a batch and answers, in one
`annotations_submit_batch` as the labeling page posts a grid, the items it labelled in the file, with that
label. A simulated worker cannot answer the other items, so it tells the engine up front through `only_ids`
(equivalent to being offered and skipping each of the others, and it saves the product set 1.4 million skip
round trips); anything still offered that it cannot answer is given back with `item_skip`. The quality engine
decides when items stop (policy: `all` = every label, `fixed` = K votes, `adaptive` = the engine's target).
`project_reaggregate` runs every `reaggregate_every` answers, as the Celery task would. Gold is used only for
scoring unless `use_gold_fraction` > 0 (then that share of gold items is imported as gold and left out of the
score).
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import override_settings

from annotate.conf import options
from annotate.exceptions import ServiceError
from labeling.algorithms.crowd_io import read_crowd
from labeling.models import Annotation, AnnotatorScore, Image, Item, Project
from labeling.services.annotations import annotations_submit_batch, item_skip
from labeling.services.assignment import leases_release, next_items
from labeling.services.projects import project_create
from labeling.services.quality import gold_set, project_reaggregate

POLICIES = ("all", "fixed", "adaptive")
BATCH = 10  # items per arrival, like a short labeling session


@dataclass(frozen=True)
class ReplayedAnnotator:
    """One replayed worker: the engine's estimate of them beside their accuracy on the file's gold (scoring only)."""

    worker: str
    estimated_accuracy: float | None
    gold_accuracy: float | None
    labels: int  # labels of theirs the replay submitted
    gold_labels: int  # labels of theirs in the file on gold items


@dataclass
class ReplayResult:
    method: str
    policy: str
    items: int
    labels_available: int
    labels_used: int
    accuracy: float | None
    seconds: float
    compared: list = field(default_factory=list)
    annotators: list[ReplayedAnnotator] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "policy": self.policy,
            "items": self.items,
            "labels_available": self.labels_available,
            "labels_used": self.labels_used,
            "accuracy": None if self.accuracy is None else round(self.accuracy, 6),
            "seconds": round(self.seconds, 3),
        }


def _setup(
    crowd, *, policy: str, votes: int | None, target: float, max_labels: int, audit_rate: float
) -> tuple[Project, list[Item], list]:
    slug = f"replay-{uuid.uuid4().hex[:12]}"
    if policy == "all":
        min_v = max_v = max_labels
        target = 0.9999
    elif policy == "fixed":
        min_v = max_v = votes
        target = 0.9999
    else:
        min_v, max_v = 1, max_labels
    project = project_create(
        slug=slug,
        task_type=Project.TaskType.CLASSIFY,
        name=f"replay {slug}",
        min_votes=min_v,
        max_votes=max_v,
        confidence_target=target,
        gold_rate=0.0,
        audit_rate=audit_rate,
        visibility=Project.Visibility.INVITE,
        categories=[{"name": name} for name in crowd.label_names],
    )
    images = Image.objects.bulk_create(
        [
            Image(
                sha256=hashlib.sha256(f"{slug}/{name}".encode()).hexdigest(),
                file="",
                width=1,
                height=1,
                format="replay",
                mode="",
                size_bytes=0,
            )
            for name in crowd.item_names
        ],
        batch_size=2000,
    )
    items = Item.objects.bulk_create(
        [Item(project=project, image=img, needed_votes=min_v) for img in images], batch_size=2000
    )
    user_model = get_user_model()
    users = [user_model(username=f"{slug}-w{i}") for i in range(len(crowd.worker_names))]
    for user in users:
        user.set_unusable_password()
    users = user_model.objects.bulk_create(users, batch_size=2000)
    return project, items, users


def replay_crowd(
    *,
    labels_path: str,
    gold_path: str,
    method: str,
    policy: str = "all",
    votes: int | None = None,
    target: float = 0.95,
    seed: int = 0,
    use_gold_fraction: float = 0.0,
    audit_rate: float | None = None,
    reaggregate_every: int | None = None,
    keep: bool = False,
    compare_methods: tuple[str, ...] = (),
) -> ReplayResult:
    """Returns the result for `method`; with compare_methods, `.compared` holds one result per extra method,
    scored on the same replayed votes (only the final re-aggregation differs)."""
    if policy not in POLICIES:
        raise ServiceError(f"Unknown policy {policy!r}; choose one of {', '.join(POLICIES)}.", code="invalid_policy")
    if policy == "fixed" and (votes is None or votes < 1):
        raise ServiceError("--policy fixed needs --votes K >= 1.", code="invalid_votes")
    if not 0.0 <= use_gold_fraction < 1.0:
        raise ServiceError("--use-gold-fraction must be in [0, 1).", code="invalid_gold_fraction")
    if audit_rate is None:
        audit_rate = float(Project._meta.get_field("audit_rate").default)
    if not 0.0 <= audit_rate <= 0.5:
        raise ServiceError("--audit-rate must be in [0, 0.5].", code="invalid_audit_rate")
    started = time.perf_counter()
    crowd = read_crowd(labels_path, gold_path)
    # One answer per (worker, item): the first row wins (the database allows one vote per user and item).
    answers: dict[int, dict[int, int]] = defaultdict(dict)
    for w, i, lab in zip(crowd.workers.tolist(), crowd.items.tolist(), crowd.labels.tolist(), strict=True):
        answers[w].setdefault(i, lab)
    per_item = defaultdict(int)
    for mine in answers.values():
        for i in mine:
            per_item[i] += 1
    max_labels = max(per_item.values())
    every = reaggregate_every or max(200, crowd.labels.size // 10)
    # Each answer commits on its own, as on the web (one transaction around everything made PostgreSQL keep
    # every version of the hot item and score rows until the end, and each vote grew slower). Without a disk
    # flush per commit (_fast_commits) the run is not bound by fsync. The loop re-aggregates itself.
    with override_settings(ANNOTATE={**options().as_dict(), "QUALITY_REAGGREGATE_EVERY": 0}), _fast_commits():
        with transaction.atomic():  # all or nothing: a half-made project would outlive the run
            project, items, users = _setup(
                crowd, policy=policy, votes=votes, target=target, max_labels=max_labels, audit_rate=audit_rate
            )
        try:
            categories = list(project.categories.order_by("id").values_list("id", flat=True))
            item_code = {item.pk: code for code, item in enumerate(items)}
            rng = random.Random(seed)
            held_out = set()
            if use_gold_fraction > 0:
                order = list(range(crowd.gold_items.size))
                rng.shuffle(order)
                for j in order[: round(use_gold_fraction * len(order))]:
                    code = int(crowd.gold_items[j])
                    gold_set(item=items[code], label=categories[int(crowd.gold_labels[j])])
                    held_out.add(code)
            used = _feed(project, items, users, answers, categories, item_code, rng, every, method)
            compared = []
            for other in [m for m in compare_methods if m != method]:
                project_reaggregate(project_id=project.pk, method=other)
                compared.append((other, _accuracy(project, items, crowd, categories, held_out)))
            project_reaggregate(project_id=project.pk, method=method)
            accuracy = _accuracy(project, items, crowd, categories, held_out)
            annotators = _annotators(project, users, answers, crowd)
        finally:
            if not keep:
                _cleanup(project, users)
    seconds = time.perf_counter() - started
    result = ReplayResult(method, policy, len(items), int(crowd.labels.size), used, accuracy, seconds)
    result.annotators = annotators
    result.compared = [
        ReplayResult(m, policy, len(items), result.labels_available, used, a, seconds) for m, a in compared
    ]
    return result


def _feed(project, items, users, answers, categories, item_code, rng, every, method) -> int:
    remaining = {w: {items[i].pk: lab for i, lab in mine.items()} for w, mine in answers.items()}
    active = [w for w in remaining if remaining[w]]
    used = since = 0
    while active:
        rng.shuffle(active)
        progressed = []
        for w in active:
            mine = remaining[w]
            offered = next_items(user=users[w], project=project, n=BATCH, only_ids=mine.keys())
            answers = []
            for item in offered:
                label = mine.pop(item.pk, None)
                if label is None:
                    item_skip(user=users[w], project=project, item_id=item.pk)
                    continue
                answers.append(
                    {"item_id": item.pk, "submission_id": uuid.uuid4(), "answer": {"category": categories[label]}}
                )
            # The arrival posts its answers at once, like the labeling page (the same service as the web).
            results = annotations_submit_batch(user=users[w], project=project, answers=answers) if answers else []
            stored = sum(1 for r in results if r["ok"])
            used += stored
            since += stored
            if offered and mine:
                progressed.append(w)
            elif offered:
                leases_release(user=users[w], project=project)
        if since >= every or not progressed:
            since = 0
            result = project_reaggregate(project_id=project.pk, method=method)
            if result is not None and result.reopened and not progressed:
                # Re-opened items may need workers who had run out of work: those who can answer one come back.
                reopened = set(result.reopened)
                progressed = [w for w in remaining if reopened & remaining[w].keys()]
        active = progressed
    return used


def _accuracy(project, items, crowd, categories, held_out) -> float | None:
    labelled = set(Annotation.objects.filter(item__project=project).values_list("item_id", flat=True).distinct())
    final = dict(Item.objects.filter(project=project).values_list("id", "label"))
    right = total = 0
    for code, gold in zip(crowd.gold_items.tolist(), crowd.gold_labels.tolist(), strict=True):
        pk = items[code].pk
        if code in held_out or pk not in labelled:
            continue
        total += 1
        right += int(final.get(pk) == categories[gold])
    return right / total if total else None


def _annotators(project, users, answers, crowd) -> list[ReplayedAnnotator]:
    gold = dict(zip(crowd.gold_items.tolist(), crowd.gold_labels.tolist(), strict=True))
    scores = dict(AnnotatorScore.objects.filter(project=project).values_list("user_id", "ds_accuracy"))
    volume = dict(AnnotatorScore.objects.filter(project=project).values_list("user_id", "volume"))
    rows = []
    for w, name in enumerate(crowd.worker_names):
        on_gold = [lab == gold[i] for i, lab in answers.get(w, {}).items() if i in gold]
        rows.append(
            ReplayedAnnotator(
                worker=str(name),
                estimated_accuracy=scores.get(users[w].pk),
                gold_accuracy=sum(on_gold) / len(on_gold) if on_gold else None,
                labels=int(volume.get(users[w].pk, 0)),
                gold_labels=len(on_gold),
            )
        )
    return rows


@contextmanager
def _fast_commits():
    """Commits of this connection skip the wait for the disk (the throw-away data needs no durability)."""
    statements = {
        "postgresql": ("SET synchronous_commit TO OFF", "SET synchronous_commit TO DEFAULT"),
        "sqlite": ("PRAGMA synchronous = OFF", "PRAGMA synchronous = NORMAL"),
    }.get(connection.vendor)
    if statements is None or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(statements[0])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(statements[1])


def _cleanup(project: Project, users: list) -> None:
    with transaction.atomic():
        image_ids = list(project.items.values_list("image_id", flat=True))
        project.delete()
        Image.objects.filter(pk__in=image_ids, format="replay").delete()
        get_user_model().objects.filter(pk__in=[u.pk for u in users]).delete()
