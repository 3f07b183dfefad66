"""The online answer-copying check (issue 22; the statistic: labeling/algorithms/collusion.py, design: live.md).

A pair copying each other's answers inflates each other's agreement with the consensus (~0.6 for two
coin-flippers, where one alone is at 0.5), so the per-annotator agreement rule sees them late or never.
`annotator_live_after_votes` runs this check after the vote's commit, before the response (the vote's transaction
keeps its statements, and the partner's next request already meets the block: a Celery task would land after it),
on a schedule of the author's answer count alone (copy_check_due). It tests the author against everyone who
shares enough items with them and blocks both members of a copying pair (or a member of a suspect pair whose
agreement with the others, the partner left out, fails the agreement rule), with the reason, as the other online
rules block.
"""

from __future__ import annotations

import functools

import numpy as np
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Window
from django.db.models.functions import RowNumber

from labeling.algorithms import collusion
from labeling.models import Annotation, AnnotatorLiveStats, AnnotatorScore, Project

Status = AnnotatorScore.Status
MIN_COMPARED = 12  # the agreement rule in hindsight: as many compared answers as the online rule (triggers.py)
# When the check runs: each time the author's answers cross a multiple of the step, the step growing with their
# answers (a copier is caught early; the read grows with a long record). A function of the answer count alone:
# nothing the check costs (the response's time and statements) may depend on whether an answer was gold -- a
# schedule keyed on agreement did, since a gold answer is compared at once and a regular one only later.
CHECK_STEPS = ((200, 10), (2000, 100))  # (below this many answers, every this many); beyond: every 1,000
CHECK_STEP_LAST = 1000
RECENT_ITEMS = 500  # each annotator's latest votes the check reads (theirs and their co-voters')


def _step(answers: int) -> int:
    return next((step for below, step in CHECK_STEPS if answers < below), CHECK_STEP_LAST)


def copy_check_due(*, answers_before: int, answers_after: int, task_type: str) -> bool:
    """Whether the author's batch (answers_before -> answers_after) calls for the pairwise check: labels (not
    boxes), enough answers to share MIN_SHARED items with someone, and a multiple of the current step crossed."""
    if task_type == Project.TaskType.BOXES or answers_after < collusion.MIN_SHARED:
        return False
    step = _step(answers_before)
    return answers_after // step > answers_before // step


def _reason(test: collusion.PairTest, me_first: bool) -> str:
    right, compared = (test.right_a, test.compared_a) if me_first else (test.right_b, test.compared_b)
    copied = (
        f"answers identical to another volunteer's on {test.agreed} of {test.shared} shared items, where "
        f"independent work would match on at most {test.expected:.0%} (p = {test.p_value:.0e})"
    )
    if test.copying:
        return f"{copied}; agreement with the others' consensus {right} of {compared}"
    return f"{copied}; with that volunteer left out, agreement with the others' consensus {right} of {compared}"


def _recent_items(votes, user_ids: list[int]):
    """The items of each annotator's RECENT_ITEMS latest votes, as a subquery (a window in the database): the
    check judges recent work, and its read stays bounded whatever the record of a veteran who shares items with a
    newcomer (reading a co-voter's whole history made one newcomer's check grow with the project)."""
    ranked = votes.filter(user_id__in=user_ids).annotate(
        recency=Window(RowNumber(), partition_by=[F("user_id")], order_by=F("id").desc())
    )
    return ranked.filter(recency__lte=RECENT_ITEMS).values("item_id")


def annotator_copy_check(*, project_id: int, user_id: int, partners_too: bool = False) -> list[int]:
    """Test the annotator against each co-voter with >= MIN_SHARED shared items; block both members of every
    copying pair, or a member of a suspect pair who fails the agreement rule with the partner left out. The
    annotator is also judged by the agreement rule in hindsight, against today's consensus of the others (an
    answer given before its item had a consensus is compared too). A status set by a person is left alone. Three
    reads; returns the ids blocked now.

    `partners_too` (after any block of this annotator, triggers._after_block): each co-voter whose answers match
    theirs more than independent work allows (a suspect pair, tail < SUSPECT_ALPHA) is checked the same way now.
    Their own statistics were flattered by the blocked partner's answers (at answer time the pair was often the
    consensus), so the check their batches call for may never come; with the partner's votes no longer counted,
    today's consensus judges them."""
    from labeling.services.quality.triggers import agreement_threshold, agreement_verdict, annotator_block

    project = Project.objects.filter(pk=project_id).first()
    if project is None or project.task_type == Project.TaskType.BOXES:
        return []
    votes = Annotation.objects.filter(item__project_id=project_id, label__isnull=False)
    mine = _recent_items(votes, [user_id])
    partners = list(
        votes.filter(item_id__in=mine)
        .exclude(user_id=user_id)
        .values("user_id")
        .annotate(n=Count("id"))
        .filter(n__gte=collusion.MIN_SHARED)
        .values_list("user_id", flat=True)
    )
    blocked = AnnotatorScore.objects.filter(project_id=project_id, user_id=OuterRef("user_id"), status=Status.BLOCKED)
    rows = list(
        votes.filter(item_id__in=_recent_items(votes, [user_id, *partners]))
        .annotate(blocked=Exists(blocked))
        .values_list("item_id", "user_id", "label", "item__is_gold", "item__gold_label", "blocked")
    )
    if not rows:
        return []
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
    matrix = {"n_items": item_ids.size, "n_workers": user_ids.size, "k": k, "gold": gold,
              "counted": np.array([not r[5] for r in rows], dtype=bool)}  # fmt: skip
    threshold = functools.cache(lambda: agreement_threshold(project=project, user_id=user_id))
    tests = collusion.pairs_test(items, workers, labels, focus=me, far_upper=threshold, **matrix) if partners else []
    # The agreement rule in hindsight: the consensus each answer is compared with is today's, not the one before it
    right, compared = collusion.accuracy_against_others(items, workers, labels, worker=me, **matrix)
    reason = agreement_verdict(right, compared, threshold=threshold, others=True) if compared >= MIN_COMPARED else ""
    newly = []
    with transaction.atomic():
        if reason and annotator_block(project=project, user_id=user_id, reason=reason):
            newly.append(user_id)
        for test in tests:
            for worker, first, block in ((test.a, True, test.block_a), (test.b, False, test.block_b)):
                uid = int(user_ids[worker])
                if block and annotator_block(project=project, user_id=uid, reason=_reason(test, first)):
                    newly.append(uid)
    if partners_too:
        for test in tests:
            partner = int(user_ids[test.b if test.a == me else test.a])
            if test.p_value < collusion.SUSPECT_ALPHA and partner not in newly:
                newly += annotator_copy_check(project_id=project_id, user_id=partner)
    return newly


# After a re-aggregation: the newcomers (fewer answers than this) are judged again, at most this many per run,
# the most recently active first (a bounded cost per run).
NEWCOMER_ANSWERS = 200
NEWCOMERS_PER_RUN = 50


def newcomers_copy_check(*, project_id: int) -> list[int]:
    """The copy check and the agreement rule in hindsight for the project's newcomers, at the end of each
    re-aggregation (under its lock; a block enqueues the next run, which leaves them out).

    A newcomer's answers on items nobody else had answered yet are compared with nothing when their own check runs;
    the evidence arrives when others answer those items, between two of the newcomer's batches. A coin-flipper
    whose grid landed on fresh items was seen only one grid later (the live crowd's random clicker and copier at
    32 answers instead of 20). The re-aggregation runs on the project's schedule (answers or seconds, never on one
    answer: no gold timing), in the worker, so this check costs no volunteer's request anything. Returns the ids
    blocked now."""
    judged = AnnotatorScore.objects.filter(project_id=project_id, user_id=OuterRef("user_id")).filter(
        Q(status=Status.BLOCKED) | Q(status_locked=True)
    )
    newcomers = list(
        AnnotatorLiveStats.objects.filter(
            project_id=project_id, answers__gte=collusion.MIN_SHARED, answers__lt=NEWCOMER_ANSWERS
        )
        .exclude(Exists(judged))
        .order_by("-updated_at", "user_id")
        .values_list("user_id", flat=True)[:NEWCOMERS_PER_RUN]
    )
    blocked: list[int] = []
    for user_id in newcomers:
        if user_id not in blocked:
            blocked += annotator_copy_check(project_id=project_id, user_id=user_id)
    return blocked
