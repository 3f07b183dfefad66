"""The live quality loop (design: live.md beside this file): per-annotator statistics updated online with each
batch of answers, the online rules that block a spammer within minutes, the per-project re-aggregation trigger,
and a reviewer's "recompute now" (a blocked volunteer's notice and appeal: appeals.py).

The statistics are what a spammer cannot hide for long: agreement with the current consensus of *other* voters
(and with gold), the share of their most frequent answer, decisions faster than a person can physically make
(a verify grid is one decision about all its tiles), and for boxes the IoU of their boxes with the consensus.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from annotate.conf import options
from annotate.exceptions import ServiceError
from labeling.algorithms.boxes import box_set_iou
from labeling.algorithms.intervals import wilson_interval
from labeling.models import (
    Annotation,
    AnnotatorLiveStats,
    AnnotatorScore,
    Lease,
    Project,
)
from labeling.services.quality import rules

Status = AnnotatorScore.Status

# A vote is compared with the consensus of the votes before it only when at least this many other counted
# votes made it, at least this confident (a consensus of one, or a coin toss, says nothing about the voter).
CONSENSUS_MIN_VOTES = 2
CONSENSUS_MIN_CONFIDENCE = 0.8
MIN_COMPARED = 12  # compared votes before the agreement rule may block
SAME_ANSWER_MIN = 20  # answers before the constant-answer rule may block
SAME_ANSWER_AGREEMENT = 0.8  # ...and only when their agreement is below this (the data may be one-sided)
MIN_DECISIONS = 10  # timed decisions before the speed rule may block (one answer each)...
MIN_GRID_DECISIONS = 4  # ...or verify grids (a grid is one decision about 12-24 tiles)
FAST_SHARE = 0.5  # ...when at least this share of them was faster than a person can decide
BOX_IOU_BLOCK = 0.3  # boxes: mean IoU with the consensus below this over MIN_BOX_COMPARED items
MIN_BOX_COMPARED = 8
BOX_AGREE_IOU = 0.5


@dataclass(frozen=True)
class LiveVote:
    """One new vote of the batch as the online statistics see it: the item before this vote was counted
    (`prior_votes` other counted votes, its label/answer/confidence), the vote, and the time spent on it."""

    is_gold: bool
    gold_label: int | None
    prior_votes: int
    prior_label: int | None
    prior_confidence: float | None
    prior_answer: dict | None
    label: int | None
    answer: dict | None
    time_spent_ms: int


def live_votes(votes: Sequence, annotations: Sequence[Annotation]) -> list[LiveVote]:
    """LiveVotes from online.NewVote rows (item locked, votes_count already counting the new vote, the rest of
    its state still from before) and their stored annotations, in the same order."""
    out = []
    for vote, annotation in zip(votes, annotations, strict=True):
        item = vote.item
        out.append(
            LiveVote(
                is_gold=item.is_gold,
                gold_label=item.gold_label,
                prior_votes=max(0, item.votes_count - 1),
                prior_label=item.label,
                prior_confidence=item.confidence,
                prior_answer=item.answer if isinstance(item.answer, dict) else None,
                label=annotation.label,
                answer=annotation.answer,
                time_spent_ms=annotation.time_spent_ms or 0,
            )
        )
    return out


def grid_floor_ms(tiles: int) -> float:
    """The least time a person needs for a verify grid of `tiles` tiles: MIN_GRID_MS for a full grid (12 tiles or
    more), less for a short one, never less than one answer's MIN_HUMAN_MS."""
    return max(float(rules.MIN_HUMAN_MS), rules.MIN_GRID_MS * min(1.0, tiles / 12))


@dataclass
class LiveDelta:
    """One batch's additions to an annotator's statistics (written in one upsert, _upsert)."""

    answers: int = 0
    decisions: int = 0
    fast_decisions: int = 0
    compared: int = 0
    agreed: int = 0
    gold_compared: int = 0
    gold_agreed: int = 0
    repeats: int = 0  # within the batch; the first answer is compared with the stored last_label in SQL
    first_label: int | None = None
    last_label: int | None = None
    same_as_first: int = 0
    grid_tiles: int = 0
    iou_sum: float = 0.0


def live_delta(*, task_type: str, votes: list[LiveVote]) -> LiveDelta:
    """What one batch of one author's votes adds to their statistics (pure)."""
    d = LiveDelta(answers=len(votes))
    if task_type == Project.TaskType.VERIFY:  # the grid is one decision, its time the grid's time
        decisions = [sum(v.time_spent_ms for v in votes)]
        floor = grid_floor_ms(len(votes))
        labels = [v.label for v in votes]
        if len(labels) >= 2:
            d.same_as_first = sum(1 for lab in labels[1:] if lab == labels[0])
            d.grid_tiles = len(labels) - 1
    else:
        decisions = [v.time_spent_ms for v in votes]
        floor = rules.MIN_HUMAN_MS
    timed = [ms for ms in decisions if ms > 0]
    d.decisions = len(timed)
    d.fast_decisions = sum(1 for ms in timed if ms < floor)
    if task_type != Project.TaskType.BOXES and votes:
        labels = [v.label for v in votes]
        d.first_label, d.last_label = labels[0], labels[-1]
        d.repeats = sum(1 for a, b in pairwise(labels) if a == b)
    for v in votes:
        agreed = _compare(task_type, v)
        if agreed is None:
            continue
        d.compared += 1
        d.agreed += int(agreed >= BOX_AGREE_IOU)
        if task_type == Project.TaskType.BOXES:
            d.iou_sum += agreed
        if v.is_gold:
            d.gold_compared += 1
            d.gold_agreed += int(agreed >= BOX_AGREE_IOU)
    return d


_SUMMED = ["answers", "decisions", "fast_decisions", "compared", "agreed", "gold_compared", "gold_agreed",
           "same_as_first", "grid_tiles", "iou_sum"]  # fmt: skip
_RETURNED = ["answers", "decisions", "fast_decisions", "compared", "agreed", "repeats", "iou_sum"]


def _upsert(*, project_id: int, user_id: int, d: LiveDelta) -> AnnotatorLiveStats:
    """Add the delta to the (project, user) row in one statement (INSERT … ON CONFLICT DO UPDATE … RETURNING,
    PostgreSQL and SQLite alike); returns the row's new counters. The increments happen in the database, so
    concurrent batches of one author never lose each other's counts."""
    table = connection.ops.quote_name(AnnotatorLiveStats._meta.db_table)
    columns = ["project_id", "user_id", *_SUMMED, "repeats", "last_label", "updated_at"]
    values = [project_id, user_id, *(getattr(d, name) for name in _SUMMED), d.repeats, d.last_label]
    values.append(connection.ops.adapt_datetimefield_value(timezone.now()))
    sets = [f"{c} = {table}.{c} + excluded.{c}" for c in _SUMMED]
    sets.append(f"repeats = {table}.repeats + excluded.repeats + CASE WHEN {table}.last_label = %s THEN 1 ELSE 0 END")
    sets += ["last_label = excluded.last_label", "updated_at = excluded.updated_at"]
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "  # noqa: S608
        f"ON CONFLICT (project_id, user_id) DO UPDATE SET {', '.join(sets)} RETURNING {', '.join(_RETURNED)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, d.first_label])
        row = cursor.fetchone()
    return AnnotatorLiveStats(project_id=project_id, user_id=user_id, **dict(zip(_RETURNED, row, strict=True)))


def _compare(task_type: str, v: LiveVote) -> float | None:
    """1.0 / 0.0 (boxes: the IoU) for a vote compared with gold or with the consensus of the votes before it;
    None when there is nothing trustworthy to compare with."""
    if task_type == Project.TaskType.BOXES:
        consensus = (v.prior_answer or {}).get("boxes")
        if v.prior_votes < CONSENSUS_MIN_VOTES or consensus is None:
            return None
        mine = [b[:4] for b in (v.answer or {}).get("boxes", [])]
        return box_set_iou(mine, [b[:4] for b in consensus])
    if v.is_gold and v.gold_label is not None:
        return float(v.label == v.gold_label)
    if v.is_gold or v.prior_votes < CONSENSUS_MIN_VOTES or v.prior_label is None:
        return None
    if (v.prior_confidence or 0.0) < CONSENSUS_MIN_CONFIDENCE:
        return None
    return float(v.label == v.prior_label)


def agreement_threshold(*, project: Project, user_id: int) -> float:
    """rules.agreement_block_upper for this project: the crowd is everyone else not blocked (one read; a classify
    project's category count is a second)."""
    blocked = AnnotatorScore.objects.filter(project_id=project.pk, user_id=OuterRef("user_id"), status=Status.BLOCKED)
    crowd = (
        AnnotatorLiveStats.objects.filter(project_id=project.pk)
        .exclude(user_id=user_id)
        .exclude(Exists(blocked))
        .aggregate(agreed=Sum("agreed"), compared=Sum("compared"))
    )
    k = 2 if project.task_type == Project.TaskType.VERIFY else project.categories.count()
    return rules.agreement_block_upper(crowd_agreed=crowd["agreed"] or 0, crowd_compared=crowd["compared"] or 0, k=k)


def agreement_verdict(agreed: int, compared: int, *, threshold: Callable[[], float], others: bool = False) -> str:
    """The agreement rule: the reason to block when the 95 % upper bound of agreed / compared is below the
    threshold, else "". The threshold (a read) is asked for only when the bound is below the most it can be."""
    _low, high = wilson_interval(agreed, compared)
    if float(high) >= rules.AGREEMENT_BLOCK_UPPER:
        return ""
    limit = threshold()
    if float(high) >= limit:
        return ""
    whose = "the others' consensus" if others else "the consensus"
    return f"answers agree with gold or {whose} on {agreed} of {compared} (upper bound {float(high):.2f} < {limit:.2f})"


def live_verdict(
    stats: AnnotatorLiveStats, *, task_type: str, threshold: Callable[[], float] = lambda: rules.AGREEMENT_BLOCK_UPPER
) -> tuple[str | None, str]:
    """(BLOCKED, why) when an online rule fires on the statistics, else (None, ""); `threshold` gives the
    agreement rule's limit (agreement_threshold, read only when needed)."""
    agreement = stats.agreed / stats.compared if stats.compared else None
    if task_type == Project.TaskType.BOXES:
        if stats.compared >= MIN_BOX_COMPARED and stats.iou_sum / stats.compared < BOX_IOU_BLOCK:
            mean = stats.iou_sum / stats.compared
            return Status.BLOCKED, f"boxes overlap the consensus by IoU {mean:.2f} on {stats.compared} items"
    elif stats.compared >= MIN_COMPARED:
        reason = agreement_verdict(stats.agreed, stats.compared, threshold=threshold)
        if reason:
            return Status.BLOCKED, reason
    if task_type != Project.TaskType.BOXES and stats.answers >= SAME_ANSWER_MIN:
        share = (stats.repeats + 1) / stats.answers  # answers equal to the one before (the first counts)
        if share >= rules.SAME_ANSWER_SHARE and agreement is not None and agreement < SAME_ANSWER_AGREEMENT:
            return Status.BLOCKED, f"same answer on {share:.0%} of {stats.answers} answers"
    enough = MIN_GRID_DECISIONS if task_type == Project.TaskType.VERIFY else MIN_DECISIONS
    if stats.decisions >= enough and stats.fast_decisions >= FAST_SHARE * stats.decisions:
        excused = (
            agreement is not None
            and stats.compared >= rules.AGREEMENT_MIN_N
            and agreement >= rules.SPEED_EXCUSED_AGREEMENT
        )
        if not excused:
            floor = rules.MIN_GRID_MS if task_type == Project.TaskType.VERIFY else rules.MIN_HUMAN_MS
            unit = "grids" if task_type == Project.TaskType.VERIFY else "answers"
            return (
                Status.BLOCKED,
                f"{stats.fast_decisions} of {stats.decisions} {unit} faster than {floor} ms",
            )
    return None, ""


def annotator_live_after_votes(*, project: Project, user_id: int, votes: list[LiveVote]) -> bool:
    """The online statistics of one author's batch (inside the submission's transaction, which holds their score
    row), and the online rules on them. A rule that fires blocks the author at once: their leases are dropped,
    and after commit their items are re-decided without their votes and the project is re-aggregated.
    Returns whether the author was blocked now."""
    if not votes:
        return False
    from labeling.services.quality.collusion import copy_check_due

    delta = live_delta(task_type=project.task_type, votes=votes)
    stats = _upsert(project_id=project.pk, user_id=user_id, d=delta)
    crowd = lambda: agreement_threshold(project=project, user_id=user_id)  # noqa: E731
    status, reason = live_verdict(stats, task_type=project.task_type, threshold=crowd)
    if status == Status.BLOCKED:
        return annotator_block(project=project, user_id=user_id, reason=reason)
    if copy_check_due(answers_before=stats.answers - delta.answers, answers_after=stats.answers,
                      task_type=project.task_type):  # fmt: skip
        # A pair copying each other (collusion.py): after commit, before the response -- the partner's next request
        # already meets the block (a task would land after it). Outside the vote's transaction and its statements.
        from labeling.services.quality.collusion import annotator_copy_check

        transaction.on_commit(lambda: annotator_copy_check(project_id=project.pk, user_id=user_id), robust=True)
    return False


def annotator_block(*, project: Project, user_id: int, reason: str) -> bool:
    """An online rule's block (inside the caller's transaction): the status with its reason, the leases dropped,
    and after commit the retroactive re-decision (_after_block). A status set by a person, or an existing block, is
    left alone; returns whether the annotator was blocked now."""
    score = rules.score_for(project=project, user_id=user_id, lock=True)
    if score.status_locked or score.status == Status.BLOCKED:
        return False
    rules.status_change(score=score, to=Status.BLOCKED, reason=reason)
    Lease.objects.filter(user_id=user_id, item__project=project).delete()
    transaction.on_commit(lambda: _after_block(project.pk, user_id))
    return True


def _after_block(project_id: int, user_id: int) -> None:
    """Retroactive: every item with a vote of the blocked annotator is re-decided without it, their suspect
    partners are checked now (collusion.py: a copier's partner looked in line with the pair's own consensus),
    then the project is re-aggregated (the models re-fitted without them)."""
    from labeling.services.quality.collusion import annotator_copy_check
    from labeling.services.quality.online import items_reevaluate
    from labeling.tasks.quality import project_reaggregate_task

    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return
    item_ids = list(Annotation.objects.filter(user_id=user_id, item__project=project).values_list("item_id", flat=True))
    items_reevaluate(project=project, item_ids=sorted(set(item_ids)))
    annotator_copy_check(project_id=project_id, user_id=user_id, partners_too=True)
    project_reaggregate_task.delay(project_id)


# --- The per-project re-aggregation trigger ---------------------------------------------------------------


def _keys(project_id: int) -> tuple[str, str]:
    return f"quality:live:votes:{project_id}", f"quality:live:since:{project_id}"


def reaggregate_due(*, project_id: int, votes: int) -> bool:
    """Count `votes` new answers of the project; True (and the counters restart) when the project has had
    QUALITY_REAGGREGATE_EVERY answers, or its first answer QUALITY_REAGGREGATE_SECONDS ago, since its last
    re-aggregation was triggered, whichever comes first. Counted in the cache (an atomic increment, no row
    every submission would lock); a lost cache only delays the next run."""
    every, seconds = options().QUALITY_REAGGREGATE_EVERY, options().QUALITY_REAGGREGATE_SECONDS
    if not every or votes <= 0:
        return False
    count_key, since_key = _keys(project_id)
    now = time.time()
    cache.add(since_key, now, timeout=None)
    if cache.add(count_key, votes, timeout=None):
        count = votes
    else:
        try:
            count = cache.incr(count_key, votes)
        except ValueError:  # expired between add and incr
            cache.set(count_key, votes, timeout=None)
            count = votes
    since = cache.get(since_key) or now
    if count < every and not (seconds and now - since >= seconds):
        return False
    cache.delete_many([count_key, since_key])
    return True


def project_recompute(*, project: Project, by) -> None:
    """A reviewer's "recompute now": enqueue the project's full re-aggregation (after commit), restart the trigger."""
    from labeling.tasks.quality import project_reaggregate_task

    if by is None:
        raise ServiceError(_("Only a reviewer can ask for a recompute."), code="forbidden", status_code=403)
    cache.delete_many(list(_keys(project.pk)))
    transaction.on_commit(lambda: project_reaggregate_task.delay(project.pk))
