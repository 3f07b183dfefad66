"""Annotator status rules and status changes (see quality.md, "Annotator status").

The rules are explicit and ordered; the first that fires decides. They need a minimum of evidence, and a
status set by a person (status_locked) is never changed by them. Blocking through the rules is as retroactive
as a manual block: the callers (reaggregate.py, overrides.py) exclude the annotator's votes and re-evaluate
their items.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from labeling.algorithms.intervals import wilson_interval
from labeling.models import AnnotatorScore, AnnotatorStatusChange, Project

Status = AnnotatorScore.Status

MIN_GOLD = 5  # gold answers before gold accuracy may change a status
GOLD_BLOCK_UPPER = 0.6  # blocked: even the optimistic (95 % Wilson upper) gold accuracy is below this
GOLD_PROBATION_UPPER = 0.8  # probation: the upper bound is below this
MIN_HUMAN_MS = 300  # median answer time below this is faster than a person can look at an image
# A verify grid is one decision about all its tiles taken together: the page records the grid's time divided by
# its tiles on each answer. A person can look over a grid and press Enter in no less than MIN_GRID_MS, so the
# per-tile floor is that time spread over the largest grid (assignment.GRID_MAX tiles): 18 tiles in 4.8 s
# (266 ms a tile) is fast and honest, a grid sent in 0.5 s is not.
MIN_GRID_MS = 1200
GRID_MAX_TILES = 24
MIN_TIMED = 20  # timed answers (time_spent_ms > 0) before the speed rule applies
# Speed alone never blocks someone whose answers are good: a gold record whose 95 % Wilson lower bound reaches
# this, or agreement with the consensus at least this on AGREEMENT_MIN_N compared votes.
SPEED_EXCUSED_GOLD_LOW = 0.8
SPEED_EXCUSED_AGREEMENT = 0.85
AGREEMENT_MIN_N = 15
# Online: gold answers and votes compared with the current consensus, pooled; blocked when even the optimistic
# (95 % Wilson upper) share of right answers is below this (a coin-flipper on yes/no work is at ~0.5, a pair of
# them copying each other ~0.6; an honest volunteer at 0.85+ stays above it: 9 of 12 has an upper bound of 0.91).
AGREEMENT_BLOCK_UPPER = 0.8
# ...but on hard work, where everyone agrees less, only confidently less than TOWARD_CROWD of the way from chance
# (1/K) to the crowd's own agreement (`agreement_block_upper`). Replayed through the services, web search relevance
# (5 grades, the best workers right on ~0.75 of gold, a consensus of three often wrong) lost its best workers to a
# fixed 0.8 -- 12,132 of 15,567 labels, accuracy 0.37 against majority vote's 0.78. A spammer stays near chance;
# an honest worker on hard work stays near the crowd. On easy work (the crowd at 0.95 on yes/no) the limit is 0.8.
# Before much is compared the crowd counts as at CROWD_PRIOR_AGREEMENT over CROWD_PRIOR_COMPARED votes.
# And a consensus the crowd itself agrees with less than CROWD_RELIABLE of the time is no yardstick at all: there the
# agreement rules stand down (the limit is 0) and leave weak workers to the pooled model, which weighs them, and to
# the gold, speed and same-answer rules. In the web replay a consensus of weak workers (the median worker right on
# 0.36 of gold) was confidently wrong for the best ones, who agreed with it on 5 of 26 and were blocked.
TOWARD_CROWD = 2 / 3
CROWD_RELIABLE = 0.7
CROWD_PRIOR_AGREEMENT = 0.95
CROWD_PRIOR_COMPARED = 10
SAME_ANSWER_SHARE = 0.98  # "one answer for everything"
SAME_ANSWER_PROBATION = 20  # ...over at least this many votes -> probation
SAME_ANSWER_BLOCK = 50  # ...over at least this many -> blocked
CONSENSUS_SKEW = 0.8  # the rule only applies when the consensus itself is not this one-sided
ACTIVE_AFTER = 10  # votes (or MIN_GOLD gold answers) after which a clean new annotator is active


@dataclass(frozen=True)
class Evidence:
    """What the rules look at; built from AnnotatorScore fields (+ the project's consensus skew)."""

    gold_seen: int
    gold_high: float | None
    volume: int
    timed: int
    median_time_ms: float | None
    top_answer_share: float | None
    consensus_top_share: float
    min_answer_ms: float = MIN_HUMAN_MS  # the speed floor of the task type (min_answer_ms())
    gold_low: float | None = None  # the gold accuracy's 95 % Wilson lower bound
    agreement: float | None = None  # share of compared votes equal to the consensus
    agreement_n: int = 0  # votes compared with a consensus


def agreement_block_upper(*, crowd_agreed: int, crowd_compared: int, k: int) -> float:
    """The agreement below which (its 95 % upper bound) an annotator is blocked: AGREEMENT_BLOCK_UPPER, lowered on
    hard work to TOWARD_CROWD of the way from chance (1/k) to the crowd's agreement (the others' agreed / compared,
    shrunk toward the prior); 0 (never) where the crowd agrees with its consensus less than CROWD_RELIABLE."""
    crowd = (crowd_agreed + CROWD_PRIOR_AGREEMENT * CROWD_PRIOR_COMPARED) / (crowd_compared + CROWD_PRIOR_COMPARED)
    if crowd < CROWD_RELIABLE:
        return 0.0
    chance = 1.0 / max(k, 2)
    return min(AGREEMENT_BLOCK_UPPER, chance + TOWARD_CROWD * max(crowd - chance, 0.0))


def min_answer_ms(task_type: str) -> float:
    """The per-answer speed floor of a task type (what a person can physically do, see MIN_GRID_MS)."""
    if task_type == "verify":
        return MIN_GRID_MS / GRID_MAX_TILES
    return float(MIN_HUMAN_MS)


def speed_excused(ev: Evidence) -> bool:
    """Good answers excuse speed: high gold accuracy or high agreement with the consensus."""
    if ev.gold_low is not None and ev.gold_seen >= MIN_GOLD and ev.gold_low >= SPEED_EXCUSED_GOLD_LOW:
        return True
    return ev.agreement is not None and ev.agreement_n >= AGREEMENT_MIN_N and ev.agreement >= SPEED_EXCUSED_AGREEMENT


def status_by_rules(ev: Evidence) -> tuple[str | None, str]:
    """(status, reason) the rules call for, or (None, "") when no rule fires and nothing is known yet."""
    if ev.gold_seen >= MIN_GOLD and ev.gold_high is not None and ev.gold_high < GOLD_BLOCK_UPPER:
        return (
            Status.BLOCKED,
            f"gold accuracy upper bound {ev.gold_high:.2f} < {GOLD_BLOCK_UPPER} on {ev.gold_seen} gold",
        )
    too_fast = ev.timed >= MIN_TIMED and ev.median_time_ms is not None and ev.median_time_ms < ev.min_answer_ms
    if too_fast and not speed_excused(ev):
        return Status.BLOCKED, f"median answer time {ev.median_time_ms:.0f} ms < {ev.min_answer_ms:.0f} ms"
    same = (
        ev.top_answer_share is not None
        and ev.top_answer_share >= SAME_ANSWER_SHARE
        and ev.consensus_top_share < CONSENSUS_SKEW
    )
    if same and ev.volume >= SAME_ANSWER_BLOCK:
        return Status.BLOCKED, f"same answer on {ev.top_answer_share:.0%} of {ev.volume} votes"
    if ev.gold_seen >= MIN_GOLD and ev.gold_high is not None and ev.gold_high < GOLD_PROBATION_UPPER:
        return Status.PROBATION, f"gold accuracy upper bound {ev.gold_high:.2f} < {GOLD_PROBATION_UPPER}"
    if same and ev.volume >= SAME_ANSWER_PROBATION:
        return Status.PROBATION, f"same answer on {ev.top_answer_share:.0%} of {ev.volume} votes"
    if ev.gold_seen >= MIN_GOLD or ev.volume >= ACTIVE_AFTER:
        return Status.ACTIVE, "enough evidence and no rule against"
    return None, ""


def next_status(current: str, proposed: str | None) -> str:
    """Automatic transitions: blocked is sticky (only a person unblocks); otherwise the rules' verdict holds."""
    if current == Status.BLOCKED or proposed is None:
        return current
    return proposed


def gold_fields(gold_seen: int, gold_correct: int) -> dict[str, float | None]:
    if gold_seen == 0:
        return {"gold_accuracy": None, "gold_wilson_low": None, "gold_wilson_high": None}
    low, high = wilson_interval(gold_correct, gold_seen)
    return {"gold_accuracy": gold_correct / gold_seen, "gold_wilson_low": float(low), "gold_wilson_high": float(high)}


def status_change(*, score: AnnotatorScore, to: str, reason: str, by=None, lock: bool = False) -> bool:
    """Set the status (and the vote weight it implies) and log it; returns False when nothing changed."""
    from labeling.services.quality.engine import STATUS_WEIGHT

    if score.status == to and not (lock and not score.status_locked):
        return False
    AnnotatorStatusChange.objects.create(
        project_id=score.project_id, user_id=score.user_id, from_status=score.status, to_status=to, reason=reason, by=by
    )
    score.status = to
    score.weight = STATUS_WEIGHT[to]
    if lock:
        score.status_locked = True
    score.updated_at = timezone.now()
    score.save(update_fields=["status", "weight", "status_locked", "updated_at"])
    return True


def score_for(*, project: Project, user_id: int, lock: bool = False) -> AnnotatorScore:
    """The (project, user) score row, created on first use; `lock` takes a row lock (select_for_update)."""
    score, _ = AnnotatorScore.objects.get_or_create(project=project, user_id=user_id)
    if lock:
        score = AnnotatorScore.objects.select_for_update().get(pk=score.pk)
    return score


GOLD_FIELDS = ["gold_seen", "gold_correct", "gold_accuracy", "gold_wilson_low", "gold_wilson_high"]


def record_gold_answer(*, project: Project, user_id: int, correct: bool) -> AnnotatorScore:
    """Online: one more gold answer for the annotator; applies the gold rules at once. Returns the score."""
    score = score_for(project=project, user_id=user_id, lock=True)
    gold_answer_count(score=score, correct=correct)
    score.save(update_fields=GOLD_FIELDS)
    gold_rules_apply(score=score)
    return score


def gold_answer_count(*, score: AnnotatorScore, correct: bool) -> None:
    """One more gold answer on a locked score row, in memory (the caller saves GOLD_FIELDS)."""
    score.gold_seen += 1
    score.gold_correct += int(correct)
    for name, value in gold_fields(score.gold_seen, score.gold_correct).items():
        setattr(score, name, value)


def gold_rules_apply(*, score: AnnotatorScore) -> None:
    """The gold rules after a gold answer (a status change is saved and logged at once by status_change)."""
    if not score.status_locked:
        ev = Evidence(score.gold_seen, score.gold_wilson_high, score.volume, 0, None, None, 1.0)
        proposed, reason = status_by_rules(ev)
        to = next_status(score.status, proposed)
        if to != score.status:
            status_change(score=score, to=to, reason=reason)
