"""The write half of a re-aggregation: annotator scores (+ status changes), calibration rows, the snapshot.

Called by reaggregate._write inside its transaction; nothing else calls these.
"""

from __future__ import annotations

import numpy as np

from annotate.db import bulk_update_values
from labeling.models import AnnotatorScore, CategoryCalibration, Project, ProjectQualitySnapshot
from labeling.services.quality import rules
from labeling.services.quality.engine import PROJECT_KEY, STATUS_WEIGHT, calibrated_targets
from labeling.services.quality.reaggregate import Computed

SCORE_FIELDS = [
    "volume",
    "gold_seen",
    "gold_correct",
    "gold_accuracy",
    "gold_wilson_low",
    "gold_wilson_high",
    "agreement",
    "median_time_ms",
    "top_answer_share",
    "skips",
    "skip_rate",
    "ds_accuracy",
    "ds_accuracy_low",
    "ds_accuracy_high",
    "evidence",
    "confusion",
]
STAT_FIELDS = ("volume", "gold_seen", "gold_correct", "agreement", "median_time_ms", "top_answer_share", "skips",
               "skip_rate")  # fmt: skip


def scores_write(*, snap, out: Computed) -> list[int]:
    """Upsert every voter's score, apply the status rules (locked statuses untouched); returns newly blocked ids."""
    project_id = snap.project.pk
    existing = {s.user_id: s for s in AnnotatorScore.objects.select_for_update().filter(project_id=project_id)}
    missing = [AnnotatorScore(project_id=project_id, user_id=uid) for uid in out.stats if uid not in existing]
    if missing:
        AnnotatorScore.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {s.user_id: s for s in AnnotatorScore.objects.select_for_update().filter(project_id=project_id)}
    col = {uid: i for i, uid in enumerate(out.users.tolist())}
    blocked: list[int] = []
    changed: list[AnnotatorScore] = []
    for uid, st in out.stats.items():
        score = existing[uid]
        proposal = out.proposals[uid]
        read = snap.counters.get(uid, (0, 0, 0))
        live = (score.volume, score.gold_seen, score.gold_correct)  # the locked row: online votes since the read
        for name in STAT_FIELDS:
            setattr(score, name, getattr(st, name))
        for name, value in proposal.gold.items():
            setattr(score, name, value)
        # Counters: the run's recount corrects what it read, and what online votes added since the read is kept
        # (finding 18: writing the snapshot's values lost them). The row is locked, so this is F() + delta.
        score.volume = max(0, live[0] + st.volume - read[0])
        score.gold_seen = max(0, live[1] + st.gold_seen - read[1])
        score.gold_correct = min(score.gold_seen, max(0, live[2] + st.gold_correct - read[2]))
        if (score.gold_seen, score.gold_correct) != (st.gold_seen, st.gold_correct):
            for name, value in rules.gold_fields(score.gold_seen, score.gold_correct).items():
                setattr(score, name, value)
        i = col.get(uid)
        if i is not None and out.skill is not None:
            score.ds_accuracy = round(float(out.skill[i]), 4)
            score.confusion = np.round(out.confusion[i], 4).tolist()
            low_high = out.skill_interval[i] if out.skill_interval is not None else (None, None)
            score.ds_accuracy_low, score.ds_accuracy_high = (
                None if v is None or not np.isfinite(v) else round(float(v), 4) for v in low_high
            )
            score.evidence = int(out.evidence[i]) if out.evidence is not None else st.volume
        changed.append(score)
        if score.status_locked:
            continue
        to = rules.next_status(score.status, proposal.status)
        if to != score.status:
            rules.status_change(score=score, to=to, reason=proposal.reason)
            if to == AnnotatorScore.Status.BLOCKED:
                blocked.append(uid)
    # UPDATE … FROM (VALUES …): Django's bulk_update spelled 16 fields as CASE WHEN per row, ~2 s a run here.
    bulk_update_values(AnnotatorScore, changed, SCORE_FIELDS)
    return blocked


def calibration_write(*, project: Project, calibration: dict) -> None:
    for key, data in calibration.items():
        if key == PROJECT_KEY:  # project-wide: only in the snapshot's targets (rows are per category)
            continue
        CategoryCalibration.objects.update_or_create(
            project=project,
            category_id=key,
            defaults={
                "n_checked": data.n_checked,
                "n_correct": data.n_correct,
                "mean_confidence": data.mean_confidence,
                "accuracy": data.accuracy,
                "target": data.target,
                "needed_votes": data.needed_votes,
                "vote_table": data.vote_table,
            },
        )


def snapshot_write(*, snap, out: Computed, method: str) -> ProjectQualitySnapshot:
    """Worker models for the online update. Blocked annotators are left out (their votes do not count)."""
    statuses = dict(AnnotatorScore.objects.filter(project=snap.project).values_list("user_id", "status"))
    workers = {
        str(uid): {
            "confusion": np.round(out.confusion[i], 6).tolist(),
            "weight": STATUS_WEIGHT[statuses.get(uid, "new")],
            "proven": out.proven(uid),
        }
        for i, uid in enumerate(out.users.tolist())
        if statuses.get(uid) != AnnotatorScore.Status.BLOCKED
    }
    snapshot, _ = ProjectQualitySnapshot.objects.update_or_create(
        project=snap.project,
        defaults={
            "method": method,
            "classes": out.classes,
            "priors": np.round(out.agg.class_priors, 6).tolist(),
            "workers": workers,
            "default_confusion": np.round(out.default_confusion, 6).tolist(),
            "votes_seen": int(snap.votes["item"].size),
            "iterations": int(out.agg.iterations),
            "temperature": float(getattr(out.agg, "temperature", 1.0)),
            "model": getattr(out.agg, "model", "")[:32],
            "model_reason": getattr(out.agg, "model_reason", ""),
            "model_evidence": getattr(out.agg, "model_evidence", None) or {},
            "targets": calibrated_targets(out.calibration),
        },
    )
    return snapshot
