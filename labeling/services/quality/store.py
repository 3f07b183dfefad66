"""The write half of a re-aggregation: annotator scores (+ status changes), calibration rows, the snapshot.

Called by reaggregate._write inside its transaction; nothing else calls these.
"""

from __future__ import annotations

import numpy as np

from labeling.algorithms.posterior import symmetric_confusion
from labeling.models import AnnotatorScore, CategoryCalibration, Project, ProjectQualitySnapshot
from labeling.services.quality import rules
from labeling.services.quality.engine import CALIBRATION_MIN_CHECKED, STATUS_WEIGHT

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
    "confusion",
]


def scores_write(*, snap, out: dict) -> list[int]:
    """Upsert every voter's score, apply the status rules (locked statuses untouched); returns newly blocked ids."""
    project_id = snap.project.pk
    existing = {s.user_id: s for s in AnnotatorScore.objects.select_for_update().filter(project_id=project_id)}
    missing = [AnnotatorScore(project_id=project_id, user_id=uid) for uid in out["stats"] if uid not in existing]
    if missing:
        AnnotatorScore.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {s.user_id: s for s in AnnotatorScore.objects.select_for_update().filter(project_id=project_id)}
    users = out["users"].tolist()
    col = {uid: i for i, uid in enumerate(users)}
    blocked: list[int] = []
    changed: list[AnnotatorScore] = []
    for uid, st in out["stats"].items():
        score = existing[uid]
        proposed, reason, gold = out["proposals"][uid]
        for name in (
            "volume",
            "gold_seen",
            "gold_correct",
            "agreement",
            "median_time_ms",
            "top_answer_share",
            "skips",
            "skip_rate",
        ):
            setattr(score, name, st[name])
        for name, value in gold.items():
            setattr(score, name, value)
        if uid in col and out["skill"] is not None:
            score.ds_accuracy = float(out["skill"][col[uid]])
            score.confusion = np.round(out["confusion"][col[uid]], 4).tolist()
        changed.append(score)
        if score.status_locked:
            continue
        to = rules.next_status(score.status, proposed)
        if to != score.status:
            rules.status_change(score=score, to=to, reason=reason)
            if to == AnnotatorScore.Status.BLOCKED:
                blocked.append(uid)
    AnnotatorScore.objects.bulk_update(changed, SCORE_FIELDS, batch_size=500)
    return blocked


def calibration_write(*, project: Project, calibration: dict) -> None:
    for key, data in calibration.items():
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


def snapshot_write(*, snap, out: dict, method: str) -> ProjectQualitySnapshot:
    """Worker models for the online update. Blocked annotators are left out (their votes do not count)."""
    statuses = dict(AnnotatorScore.objects.filter(project=snap.project).values_list("user_id", "status"))
    workers = {
        str(uid): {
            "confusion": np.round(out["confusion"][i], 6).tolist(),
            "weight": STATUS_WEIGHT[statuses.get(uid, "new")],
        }
        for i, uid in enumerate(out["users"].tolist())
        if statuses.get(uid) != AnnotatorScore.Status.BLOCKED
    }
    k = len(out["classes"])
    default = np.round(symmetric_confusion(out["prior_acc"], k), 6).tolist()
    snapshot, _ = ProjectQualitySnapshot.objects.update_or_create(
        project=snap.project,
        defaults={
            "method": method,
            "classes": out["classes"],
            "priors": np.round(out["agg"].class_priors, 6).tolist(),
            "workers": workers,
            "default_confusion": default,
            "votes_seen": int(snap.votes["item"].size),
            "iterations": int(out["agg"].iterations),
            "targets": {
                ("" if key is None else str(key)): data.target
                for key, data in out["calibration"].items()
                if data.target is not None and data.n_checked >= CALIBRATION_MIN_CHECKED
            },
        },
    )
    return snapshot
