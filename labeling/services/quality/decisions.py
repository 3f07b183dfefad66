"""Step 2b of a re-aggregation (reaggregate.py): every item decided at once, and only the changed ones kept.

`engine.item_decide` is the decider of one item; here the same decision is taken for all of a project's items
with arrays (engine.decide_many is `decide` for many; the zero-vote branch, the label, the target lookup and the
audit share are item_decide's, element by element), and compared with the state the snapshot read: a million
items cost seconds, not the minutes a Python call per item did (issue 26). Items with a model vote (a handful)
take item_decide itself. tests/labeling/quality/test_quality_decisions.py holds the two to the same answers.

The posterior and the confidence are stored rounded to 6 decimals (engine.posterior_json); `round6` is Python's
round(x, 6) on arrays, exactly, so that an unchanged item compares equal and is not rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labeling.models import Item, Project
from labeling.services.quality.engine import (
    audit_mask,
    calibrated_targets,
    decide_many,
    item_decide,
    model_vote,
    posterior_json,
    target_lookup,
)
from labeling.services.quality.snapshot import NO_LABEL, Snapshot
from labeling.services.quality.transitions import Caller, settle

REVIEWED = (Item.Status.ACCEPTED, Item.Status.REJECTED)
STATE_FIELDS = ("posterior", "label", "confidence", "status", "needed_votes", "priority", "review_reason")
DECIDED_FIELDS = [*STATE_FIELDS, "votes_count"]


def round6(values: np.ndarray) -> np.ndarray:
    """Python's round(x, 6) element-wise, bit for bit. Away from a tie, rint(x * 1e6) is the integer Python's
    correctly rounded decimal picks, and dividing it by 1e6 (exact) gives the double nearest that decimal, which
    is what round returns; the few values within 1e-6 of a tie (where x * 1e6 itself may be off) go through
    round itself."""
    x = np.asarray(values, dtype=np.float64)
    scaled = x * 1e6
    out = np.rint(scaled) / 1e6
    near = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    if near.any():
        flat, src = out.reshape(-1), x.reshape(-1)
        for i in np.flatnonzero(near.reshape(-1)).tolist():
            flat[i] = round(float(src[i]), 6)
    return out


@dataclass
class Changes:
    """The items to write: ids, the version and status read, and per field one value per item (posterior as JSON
    text or None, label / confidence None where unset)."""

    ids: np.ndarray
    versions: np.ndarray
    before: np.ndarray  # (n,) object: the status each had in the snapshot
    columns: dict[str, list] = field(default_factory=dict)

    @property
    def fields(self) -> list[str]:
        return list(self.columns)


def _posterior_texts(classes: list[int], values: np.ndarray, none: np.ndarray) -> list[str | None]:
    """posterior_json as the JSON text JSONField would store (json.dumps: ", " / ": ", floats by repr)."""
    template = "{" + ", ".join(f'"{c}": %r' for c in classes) + "}"
    return [None if empty else template % tuple(row) for row, empty in zip(values.tolist(), none.tolist(), strict=True)]


def _settled(before: np.ndarray, before_reason: np.ndarray, after: np.ndarray,
             after_reason: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """transitions.settle for each item (a handful of distinct cases, each asked once)."""
    cache: dict[tuple, tuple[str, str]] = {}
    status, reason = [], []
    for case in zip(before.tolist(), before_reason.tolist(), after.tolist(), after_reason.tolist(), strict=True):
        got = cache.get(case)
        if got is None:
            got = cache[case] = settle(Caller.REAGGREGATE, *case)
        status.append(got[0])
        reason.append(got[1])
    return np.array(status, dtype=object), np.array(reason, dtype=object)


def _targets(project: Project, keys: np.ndarray, table: dict[str, float]) -> np.ndarray:
    """target_lookup per item (`keys`: category id or label value, -1 for none), one lookup per distinct key."""
    out = np.empty(keys.size, dtype=np.float64)
    default = float(project.confidence_target)
    for key in np.unique(keys).tolist():
        out[keys == key] = target_lookup(table, None if key < 0 else key, default)
    return out


def item_changes(snap: Snapshot, out) -> tuple[Changes, Changes]:
    """(decided items whose state changes, gold items whose vote count changes). Reviewed items keep everything;
    an item with no votes already in the zero-vote state is not rewritten (issue 26: 895,400 such rows were)."""
    project, it, st, classes, agg = snap.project, snap.items, snap.state, out.classes, out.agg
    n_active = out.n_active.astype(np.int64)
    status = it["status"]
    gold = it["gold"]
    reviewed = (status == REVIEWED[0]) | (status == REVIEWED[1])
    gold_rows = np.flatnonzero(gold & (n_active != it["votes_count"]))
    gold_changes = Changes(it["id"][gold_rows], it["version"][gold_rows], status[gold_rows],
                           {"votes_count": n_active[gold_rows].tolist()})  # fmt: skip

    table = calibrated_targets(out.calibration)  # the snapshot's own table: one lookup everywhere (finding 20)
    proven = np.array([uid for uid in out.users.tolist() if out.proven(uid)], dtype=np.int64)
    candidates = ~gold & ~reviewed
    voted = {}  # row -> the model vote folded into its posterior: those few rows take item_decide itself
    for item_id, stored in snap.model_votes.items():
        p = int(np.searchsorted(it["id"], item_id))
        if p < it["id"].size and it["id"][p] == item_id and candidates[p]:
            vote = model_vote(stored, classes, is_gold=False)
            if vote is not None:
                voted[p] = vote
    by_vote = np.zeros(it["id"].size, dtype=bool)
    by_vote[list(voted)] = True
    rows = np.flatnonzero(candidates & ~by_vote)
    m, k = rows.size, len(classes)

    # The zero-vote branch of item_decide: open, min votes (at least one), the priority kept, nothing else.
    n = n_active[rows]
    new_status = np.full(m, Item.Status.OPEN.value, dtype=object)
    new_reason = np.full(m, "", dtype=object)
    needed = np.full(m, max(project.min_votes, 1), dtype=np.int64)
    priority = np.full(m, np.nan)  # NaN: keep
    label = np.full(m, NO_LABEL, dtype=np.int64)
    confidence = np.full(m, np.nan)
    post_none = n == 0
    post_values = np.zeros((m, k))
    sub = np.flatnonzero(~post_none)
    if sub.size:
        r = rows[sub]
        post = agg.posteriors[r]
        top = post.argmax(axis=1)
        label[sub] = np.asarray(classes, dtype=np.int64)[top]
        keys = it["category"][r] if project.task_type == Project.TaskType.VERIFY else label[sub]
        single = (n[sub] == 1) & np.isin(out.single_voter[r], proven)
        d = decide_many(n_votes=n[sub], posteriors=post, min_votes=project.min_votes, max_votes=project.max_votes,
                        target=_targets(project, np.where(keys >= 0, keys, -1), table),
                        prior_accuracy=out.prior_acc, single_voter_proven=single,
                        audit=audit_mask(it["id"][r], project.audit_rate))  # fmt: skip
        new_status[sub], needed[sub], priority[sub], new_reason[sub] = d
        confidence[sub] = round6(post.max(axis=1))
        post_values[sub] = round6(post)

    before, before_reason = status[rows], st["review_reason"][rows]
    decided_status = new_status
    new_status, new_reason = _settled(before, before_reason, decided_status, new_reason)
    kept = new_status != decided_status  # the item stays where someone else routed it: so do its queue fields
    needed = np.where(kept, st["needed_votes"][rows], needed)
    priority = np.where(kept | np.isnan(priority), st["priority"][rows], priority)

    old_conf = st["confidence"][rows]
    changed = (
        (new_status != before)
        | (new_reason != before_reason)
        | (needed != st["needed_votes"][rows])
        | (priority != st["priority"][rows])
        | (label != it["label"][rows])
        | ~((confidence == old_conf) | (np.isnan(confidence) & np.isnan(old_conf)))
        | (n != it["votes_count"][rows])
    )
    stored = st["posterior"]
    if stored.values is not None:
        cols = [stored.keys.index(str(c)) for c in classes]
        same_values = (stored.values[rows][:, cols] == post_values).all(axis=1)
        same = np.where(post_none, stored.n_keys[rows] == -1, (stored.n_keys[rows] == k) & same_values)
        changed |= ~same
    else:  # many label values: the stored dicts themselves (only for items nothing else changed)
        for i in np.flatnonzero(~changed).tolist():
            new = None if post_none[i] else posterior_json(classes, post_values[i])
            changed[i] = new != stored.dicts[rows[i]]

    w = np.flatnonzero(changed)
    r = rows[w]
    columns = {
        "posterior": _posterior_texts(classes, post_values[w], post_none[w]),
        "label": [None if v == NO_LABEL else v for v in label[w].tolist()],
        "confidence": [None if v != v else v for v in confidence[w].tolist()],
        "status": new_status[w].tolist(),
        "needed_votes": needed[w].tolist(),
        "priority": priority[w].tolist(),
        "review_reason": new_reason[w].tolist(),
        "votes_count": n[w].tolist(),
    }
    decided = Changes(it["id"][r], it["version"][r], status[r], columns)
    if voted:
        _add_model_voted(snap, out, table, proven, voted, decided)
    return decided, gold_changes


def _add_model_voted(snap: Snapshot, out, table: dict, proven: np.ndarray, voted: dict, decided: Changes) -> None:
    """The items with a model vote, through item_decide one by one (what the re-aggregation did for every item)."""
    project, it, st, classes = snap.project, snap.items, snap.state, out.classes
    proven_set = set(proven.tolist())
    ids, versions, before = [], [], []
    for p, vote in sorted(voted.items()):
        item_id, n, status = int(it["id"][p]), int(out.n_active[p]), it["status"][p]
        o = item_decide(
            project=project, item_id=item_id, category_id=int(it["category"][p]) if it["category"][p] >= 0 else None,
            classes=classes, n_votes=n, posterior=out.agg.posteriors[p] if n else None, targets=table,
            prior_accuracy=out.prior_acc, single_voter_proven=n == 1 and int(out.single_voter[p]) in proven_set,
            vote=vote,
        )  # fmt: skip
        old_conf = float(st["confidence"][p])
        old = {"posterior": _stored_posterior(st["posterior"], p), "label": None if it["label"][p] == NO_LABEL
               else int(it["label"][p]), "confidence": None if old_conf != old_conf else old_conf, "status": status,
               "needed_votes": int(st["needed_votes"][p]), "priority": float(st["priority"][p]),
               "review_reason": st["review_reason"][p]}  # fmt: skip
        new = {"posterior": o.posterior, "label": o.label, "confidence": o.confidence, "status": o.status,
               "needed_votes": o.needed_votes, "priority": o.priority, "review_reason": o.review_reason}  # fmt: skip
        new["priority"] = old["priority"] if o.priority is None else o.priority
        new["status"], new["review_reason"] = settle(Caller.REAGGREGATE, status, old["review_reason"], o.status,
                                                     o.review_reason)  # fmt: skip
        if new["status"] != o.status:
            new["needed_votes"], new["priority"] = old["needed_votes"], old["priority"]
        if new == old and n == int(it["votes_count"][p]):
            continue
        ids.append(item_id)
        versions.append(int(it["version"][p]))
        before.append(status)
        for name in STATE_FIELDS:
            value = new[name]
            decided.columns[name].append(posterior_json_text(value) if name == "posterior" else value)
        decided.columns["votes_count"].append(n)
    decided.ids = np.r_[decided.ids, np.array(ids, dtype=np.int64)]
    decided.versions = np.r_[decided.versions, np.array(versions, dtype=np.int64)]
    decided.before = np.r_[decided.before, np.array(before, dtype=object)]


def posterior_json_text(value: dict | None) -> str | None:
    import json

    return None if value is None else json.dumps(value)


def _stored_posterior(stored, p: int) -> dict | None:
    """The stored posterior of row p as a dict over the keys read (enough to compare with posterior_json)."""
    if stored.dicts is not None:
        return stored.dicts[p]
    n_keys = int(stored.n_keys[p])
    if n_keys == -1:
        return None
    values = {key: float(v) for key, v in zip(stored.keys, stored.values[p].tolist(), strict=True) if v == v}
    # a dict with keys beyond those read can equal no posterior over the classes: keep it unequal
    return values if n_keys == len(values) else {**values, "": None}
