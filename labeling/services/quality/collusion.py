"""The online answer-copying check (issue 22; the statistic: labeling/algorithms/collusion.py, design: live.md).

A pair copying each other's answers inflates each other's agreement with the consensus (~0.6 for two
coin-flippers, where one alone is at 0.5), so the per-annotator agreement rule sees them late or never. After a
batch whose author is not clearly in line with the consensus, `annotator_live_after_votes` enqueues this check
(after commit, off the request: the vote path keeps its statements); it tests the author against everyone who
shares enough items with them and blocks both members of a copying pair, with the reason, as the other online
rules block.
"""

from __future__ import annotations

import numpy as np
from django.db import transaction
from django.db.models import Count, Exists, OuterRef

from labeling.algorithms import collusion
from labeling.models import Annotation, AnnotatorLiveStats, AnnotatorScore, Project

Status = AnnotatorScore.Status
SUSPECT_AGREEMENT = 0.85  # the check runs while the author's agreement with the consensus is below this...
SUSPECT_MIN_COMPARED = 5  # ...or they have fewer compared votes than this (nothing is known yet)


def copy_check_due(stats: AnnotatorLiveStats, *, task_type: str) -> bool:
    """Whether the author's statistics call for the pairwise check: labels (not boxes), enough answers to share
    MIN_SHARED items with someone, and agreement with the consensus not clearly high."""
    if task_type == Project.TaskType.BOXES or stats.answers < collusion.MIN_SHARED:
        return False
    return stats.compared < SUSPECT_MIN_COMPARED or stats.agreed < SUSPECT_AGREEMENT * stats.compared


def _reason(test: collusion.PairTest, me_first: bool) -> str:
    right, compared = (test.right_a, test.compared_a) if me_first else (test.right_b, test.compared_b)
    return (
        f"answers identical to another volunteer's on {test.agreed} of {test.shared} shared items, where "
        f"independent work would match on at most {test.expected:.0%} (p = {test.p_value:.0e}); agreement with "
        f"the others' consensus {right} of {compared}"
    )


def annotator_copy_check(*, project_id: int, user_id: int) -> list[int]:
    """Test the annotator against each co-voter with >= MIN_SHARED shared items; block both members of every
    copying pair (a status set by a person is left alone). Two reads; returns the ids blocked now."""
    from labeling.services.quality.triggers import annotator_block

    project = Project.objects.filter(pk=project_id).first()
    if project is None or project.task_type == Project.TaskType.BOXES:
        return []
    votes = Annotation.objects.filter(item__project_id=project_id, label__isnull=False)
    mine = votes.filter(user_id=user_id).values("item_id")
    partners = list(
        votes.filter(item_id__in=mine)
        .exclude(user_id=user_id)
        .values("user_id")
        .annotate(n=Count("id"))
        .filter(n__gte=collusion.MIN_SHARED)
        .values_list("user_id", flat=True)
    )
    if not partners:
        return []
    blocked = AnnotatorScore.objects.filter(project_id=project_id, user_id=OuterRef("user_id"), status=Status.BLOCKED)
    rows = list(
        votes.filter(item_id__in=votes.filter(user_id__in=[user_id, *partners]).values("item_id"))
        .annotate(blocked=Exists(blocked))
        .values_list("item_id", "user_id", "label", "item__is_gold", "item__gold_label", "blocked")
    )
    item_ids, items = np.unique([r[0] for r in rows], return_inverse=True)
    user_ids, workers = np.unique([r[1] for r in rows], return_inverse=True)
    classes, labels = np.unique([r[2] for r in rows] + [r[4] for r in rows if r[3] and r[4] is not None],
                                return_inverse=True)  # fmt: skip
    labels = labels[: len(rows)]
    gold = np.full(item_ids.size, -1, dtype=np.int64)
    for index, row in zip(items.tolist(), rows, strict=True):
        if row[3] and row[4] is not None:
            gold[index] = int(np.searchsorted(classes, row[4]))
    k = 2 if project.task_type == Project.TaskType.VERIFY else max(2, classes.size)
    me = int(np.searchsorted(user_ids, user_id))
    tests = collusion.pairs_test(
        items, workers, labels, n_items=item_ids.size, n_workers=user_ids.size, k=k, gold=gold,
        counted=np.array([not r[5] for r in rows], dtype=bool), focus=me,
    )  # fmt: skip
    newly = []
    with transaction.atomic():
        for test in (t for t in tests if t.copying):
            for worker, first in ((test.a, True), (test.b, False)):
                uid = int(user_ids[worker])
                if annotator_block(project=project, user_id=uid, reason=_reason(test, first)):
                    newly.append(uid)
    return newly
