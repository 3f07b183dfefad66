"""The re-aggregation's column paths (issue 26) against what they replace: the vectorised decisions against
engine.item_decide item by item, round6 against round, the vectorised annotator statistics against a per-user
pass, the binary COPY snapshot (PostgreSQL) against the plain read of the same rows, and bulk_update_columns."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest
from django.db import connection

from annotate.db_copy import bulk_update_columns
from labeling.models import Annotation, Item, Project
from labeling.services.quality import rules
from labeling.services.quality.annotator_stats import NO_CONSENSUS, worker_stats
from labeling.services.quality.decisions import STATE_FIELDS, item_changes, round6
from labeling.services.quality.engine import (
    PROJECT_KEY,
    StoredVote,
    audit_mask,
    calibrated_targets,
    item_decide,
    model_vote,
)
from labeling.services.quality.snapshot import (
    NO_LABEL,
    Snapshot,
    _items_copy,
    _items_plain,
    _votes,
    posterior_keys,
    posteriors_from_dicts,
)
from labeling.services.quality.transitions import Caller, settle
from tests.labeling.quality.qfactories import make_project

S, R = Item.Status, Item.ReviewReason


def test_round6_is_round_bit_for_bit():
    rng = np.random.default_rng(0)
    ties = (np.arange(2000) + 0.5) / 1e6  # decimal ties and their neighbours, where x * 1e6 may be off
    values = np.r_[rng.random(20_000), ties, np.nextafter(ties, 0), np.nextafter(ties, 1), 0.0, 1.0, 1e-7]
    assert round6(values).tolist() == [round(float(v), 6) for v in values]


def _reference(snap, out):
    """The re-aggregation's per-item loop as it was (item_decide for every item): {item id: written fields}."""
    it, st, classes = snap.items, snap.state, out.classes
    targets = calibrated_targets(out.calibration)
    proven = {uid for uid in out.users.tolist() if out.proven(uid)}
    decided, gold = {}, {}
    for p in range(it["id"].size):
        item_id, n, status = int(it["id"][p]), int(out.n_active[p]), it["status"][p]
        if it["gold"][p] or status in (S.ACCEPTED, S.REJECTED):
            if it["gold"][p] and n != int(it["votes_count"][p]):
                gold[item_id] = n
            continue
        o = item_decide(
            project=snap.project, item_id=item_id, category_id=int(it["category"][p]) if it["category"][p] >= 0
            else None, classes=classes, n_votes=n, posterior=out.agg.posteriors[p] if n else None, targets=targets,
            prior_accuracy=out.prior_acc, single_voter_proven=n == 1 and int(out.single_voter[p]) in proven,
            vote=model_vote(snap.model_votes.get(item_id), classes, is_gold=False),
        )  # fmt: skip
        conf = float(st["confidence"][p])
        old = {"posterior": st["posterior_dicts"][p], "label": None if it["label"][p] == NO_LABEL
               else int(it["label"][p]), "confidence": None if conf != conf else conf, "status": status,
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
        decided[item_id] = {**new, "votes_count": n}
    return decided, gold


def _synthetic(task_type: str, seed: int, n: int = 3000):
    """A snapshot and a computed aggregation covering every branch: gold, reviewed, engine and routed reviews,
    zero-vote items, single proven voters, audit items, model votes, calibrated targets, and items whose stored
    state is exactly what the decider says (they must not be rewritten)."""
    rng = np.random.default_rng(seed)
    project = Project(task_type=task_type, min_votes=2, max_votes=5, confidence_target=0.9, audit_rate=0.2)
    classes = [0, 1] if task_type == "verify" else [11, 12, 13, -1]
    k = len(classes)
    ids = np.sort(rng.choice(np.arange(1, 10 * n), n, replace=False)).astype(np.int64)
    n_active = rng.integers(0, 6, n)
    post = rng.dirichlet(np.full(k, 0.3), n)
    post[rng.random(n) < 0.1] = np.eye(k)[0]  # sure items
    statuses = np.array(rng.choice([S.OPEN, S.DONE, S.REVIEW, S.ACCEPTED, S.REJECTED], n, p=[.4, .3, .2, .05, .05]),
                        dtype=object)  # fmt: skip
    reasons = np.array([rng.choice(["", R.MAX_VOTES, R.CURATOR, R.NO_ANNOTATOR]) if s == S.REVIEW else ""
                        for s in statuses], dtype=object)  # fmt: skip
    users = np.arange(100, 110)
    out = SimpleNamespace(
        classes=classes, users=users, agg=SimpleNamespace(posteriors=post), n_active=n_active, prior_acc=0.75,
        single_voter=np.where(n_active == 1, rng.choice(users, n), -1),
        calibration={c: SimpleNamespace(target=0.8 + 0.01 * i, n_checked=40) for i, c in enumerate(classes[:2])}
        | {PROJECT_KEY: SimpleNamespace(target=0.93, n_checked=50)},
    )  # fmt: skip
    out.proven = lambda uid: uid % 3 == 0
    if task_type == "verify":
        out.calibration = {21: SimpleNamespace(target=0.85, n_checked=40)}
    dicts = [None if rng.random() < 0.3 else {str(c): round(float(x), 6) for c, x in zip(classes, row, strict=True)}
             for row in rng.dirichlet(np.ones(k), n)]  # fmt: skip
    state = {
        "review_reason": reasons,
        "confidence": np.where(rng.random(n) < 0.3, np.nan, rng.random(n).round(6)),
        "needed_votes": rng.integers(1, 6, n),
        "priority": rng.random(n),
        "posterior_dicts": dicts,
    }
    items = {
        "id": ids, "category": rng.choice([20, 21, -1], n) if task_type == "verify" else np.full(n, -1),
        "gold": rng.random(n) < 0.05, "gold_label": np.zeros(n, dtype=np.int64), "status": statuses,
        "votes_count": np.where(rng.random(n) < 0.8, n_active, n_active + 1), "version": rng.integers(0, 9, n),
        "label": rng.choice([*classes, NO_LABEL], n),
    }  # fmt: skip
    model_votes = {int(i): StoredVote(tuple(classes), tuple(rng.random(k).tolist()), bool(rng.random() < 0.5))
                   for i in rng.choice(ids, 40, replace=False)}  # fmt: skip
    model_votes[int(ids[0])] = StoredVote((classes[0],), (1.0,), True)  # another class space: no vote
    snap = Snapshot(project, items, {}, {}, {}, [], model_votes, {}, state)
    # A third of the items already hold exactly the decider's state: the reference leaves them alone.
    decided, _ = _reference(snap, out)
    for p in np.flatnonzero(rng.random(n) < 0.35).tolist():
        new = decided.get(int(ids[p]))
        if new is None:
            continue
        items["status"][p], state["review_reason"][p] = new["status"], new["review_reason"]
        state["needed_votes"][p], state["priority"][p] = new["needed_votes"], new["priority"]
        items["label"][p] = NO_LABEL if new["label"] is None else new["label"]
        state["confidence"][p] = np.nan if new["confidence"] is None else new["confidence"]
        dicts[p], items["votes_count"][p] = new["posterior"], new["votes_count"]
    state["posterior"] = posteriors_from_dicts(dicts, [str(c) for c in classes])
    return snap, out


@pytest.mark.parametrize("task_type", ["verify", "classify"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vectorised_decisions_are_item_decide(task_type, seed):
    import json

    snap, out = _synthetic(task_type, seed)
    want, want_gold = _reference(snap, out)
    decided, gold = item_changes(snap, out)
    got = {}
    for i, item_id in enumerate(decided.ids.tolist()):
        row = {name: decided.columns[name][i] for name in [*STATE_FIELDS, "votes_count"]}
        row["posterior"] = None if row["posterior"] is None else json.loads(row["posterior"])
        got[item_id] = row
    assert 0 < len(want) < snap.items["id"].size  # some items change, some do not
    assert got == want
    assert dict(zip(gold.ids.tolist(), gold.columns["votes_count"], strict=True)) == want_gold
    assert audit_mask(snap.items["id"], 0.2).any()


def _reference_stats(snap, consensus: dict[int, int]):
    """worker_stats as it was: one pass over each annotator's votes."""
    v = snap.votes
    gold_of = {int(i): int(g) for i, g, is_g in zip(snap.items["id"], snap.items["gold_label"], snap.items["gold"],
                                                    strict=True) if is_g}  # fmt: skip
    out = {}
    users, inverse = np.unique(v["user"], return_inverse=True)
    for w, uid in enumerate(users.tolist()):
        mine = np.flatnonzero(inverse == w)
        item_ids, labels, ms = v["item"][mine], v["label"][mine], v["ms"][mine]
        gold_mask = np.array([i in gold_of for i in item_ids.tolist()], dtype=bool)
        agree = [consensus[i] == lab for i, lab in zip(item_ids.tolist(), labels.tolist(), strict=True)
                 if i in consensus]  # fmt: skip
        timed = ms[ms > 0]
        _, counts = np.unique(labels, return_counts=True)
        skips = snap.skips.get(uid, 0)
        out[uid] = (int(mine.size), int(gold_mask.sum()),
                    sum(gold_of[i] == lab for i, lab in zip(item_ids[gold_mask].tolist(), labels[gold_mask].tolist(),
                                                            strict=True)),
                    float(np.mean(agree)) if agree else None, float(np.median(timed)) if timed.size else None,
                    int(timed.size), float(counts.max() / mine.size), skips, skips / (skips + mine.size),
                    len(agree))  # fmt: skip
    return out


def test_vectorised_worker_stats_are_the_per_user_pass():
    rng = np.random.default_rng(5)
    n_items, n_votes = 400, 3000
    ids = np.arange(1, n_items + 1, dtype=np.int64) * 3
    items = {"id": ids, "gold": rng.random(n_items) < 0.2, "gold_label": rng.integers(0, 2, n_items)}
    votes = {"item": rng.choice(ids, n_votes), "user": rng.integers(1, 30, n_votes),
             "label": rng.choice([0, 1, NO_LABEL], n_votes, p=[.45, .45, .1]),
             "ms": np.where(rng.random(n_votes) < 0.2, 0, rng.integers(100, 9000, n_votes))}  # fmt: skip
    snap = Snapshot(Project(task_type="verify"), items, votes, {}, {3: 4, 7: 1}, [])
    has = rng.random(n_items) < 0.7
    labels = rng.integers(0, 2, n_items)
    consensus = np.where(has, labels, NO_CONSENSUS)
    want = _reference_stats(snap, {int(i): int(lab) for i, lab, h in zip(ids, labels, has, strict=True) if h})
    got = worker_stats(snap, consensus)
    assert set(got) == set(want)
    for uid, st in got.items():
        assert (st.volume, st.gold_seen, st.gold_correct, st.agreement, st.median_time_ms, st.timed,
                st.top_answer_share, st.skips, st.skip_rate, st.agreement_n) == want[uid]  # fmt: skip
        assert st.min_answer_ms == rules.min_answer_ms("verify")


@pytest.mark.django_db
@pytest.mark.parametrize("task_type", ["verify", "classify"])
def test_copy_snapshot_reads_what_the_plain_path_reads(make_user, task_type):
    """PostgreSQL: the binary COPY of items and votes equals the values_list read of the same rows (NULLs,
    posteriors of every shape, statuses and reasons); elsewhere there is no COPY path."""
    project, items = make_project(slug=f"copy-{task_type}", task_type=task_type, categories=("a", "b"), n_items=8)
    users = [make_user(f"copy{i}") for i in range(3)]
    shapes = [None, {"0": 0.25, "1": 0.75}, {"0": 1.0, "1": 0.0, "x": 0.5}, {"1": 0.123456}, [0.5, 0.5],
              {"0": "text", "1": 0.5}, {"-1": 0.1, "0": 0.9}, {"0": 1e-06, "1": 0.999999}]  # fmt: skip
    statuses = [S.OPEN, S.DONE, S.REVIEW, S.ACCEPTED, S.REJECTED, S.OPEN, S.REVIEW, S.DONE]
    rng = random.Random(1)
    for i, (item, shape, status) in enumerate(zip(items, shapes, statuses, strict=True)):
        item.posterior, item.status = shape, status
        item.review_reason = R.CURATOR if status == S.REVIEW and i % 2 else ""
        item.confidence = None if i % 3 == 0 else 0.5 + i / 100
        item.label = None if i % 4 == 0 else i % 2
        item.is_gold, item.gold_label = i == 5, (1 if i == 5 else None)
        item.priority = i / 7
    Item.objects.bulk_update(items, ["posterior", "status", "review_reason", "confidence", "label", "is_gold",
                                     "gold_label", "priority"])  # fmt: skip
    Annotation.objects.bulk_create([
        Annotation(item=item, user=u, label=None if (n + j) % 5 == 0 else rng.randrange(2), answer={},
                   time_spent_ms=rng.randrange(0, 3000))
        for n, item in enumerate(items) for j, u in enumerate(users)
    ])  # fmt: skip
    keys = posterior_keys(project, list(project.categories.order_by("id").values_list("id", flat=True)))
    fast = _items_copy(project.pk, keys)
    if connection.vendor != "postgresql":
        assert fast is None
        return
    plain_items, plain_state = _items_plain(project.pk, keys)
    fast_items, fast_state = fast
    for name, values in plain_items.items():
        assert fast_items[name].tolist() == values.tolist(), name
    for name in ("review_reason", "needed_votes", "priority"):
        assert fast_state[name].tolist() == plain_state[name].tolist(), name
    np.testing.assert_array_equal(fast_state["confidence"], plain_state["confidence"])
    np.testing.assert_array_equal(fast_state["posterior"].values, plain_state["posterior"].values)
    assert fast_state["posterior"].n_keys.tolist() == plain_state["posterior"].n_keys.tolist()
    # verify reads keys "0", "1"; classify the category ids and "-1", so {"0": ...} has keys it does not read
    expected = [-1, 2, -3, 1, -2] if task_type == "verify" else [-1, -3, -3, -3, -2]
    assert fast_state["posterior"].n_keys.tolist()[:5] == expected
    votes = _votes(project.pk)
    plain = Annotation.objects.filter(item__project=project).order_by("id")
    assert votes["item"].tolist() == list(plain.values_list("item_id", flat=True))
    assert votes["label"].tolist() == [NO_LABEL if v is None else v for v in plain.values_list("label", flat=True)]
    assert votes["ms"].tolist() == list(plain.values_list("time_spent_ms", flat=True))


@pytest.mark.django_db
def test_bulk_update_columns_writes_nulls_json_and_text():
    _project, items = make_project(slug="columns", n_items=3)
    ids = [item.pk for item in items]
    posterior = ['{"0": 0.5, "1": 0.5}', None, '{"a\\tb": "c\\\\d\\ne"}']  # JSON text, a tab and newline in it
    updated = bulk_update_columns(Item, ids, {"posterior": posterior, "label": [1, None, 0],
                                              "confidence": [0.123456, None, 1.0], "review_reason": ["", "x\ty", ""],
                                              "needed_votes": np.array([3, 4, 5])})  # fmt: skip
    assert updated == 3
    rows = list(Item.objects.filter(pk__in=ids).order_by("id").values_list("posterior", "label", "confidence",
                                                                          "review_reason", "needed_votes"))  # fmt: skip
    assert rows == [({"0": 0.5, "1": 0.5}, 1, 0.123456, "", 3), (None, None, None, "x\ty", 4),
                    ({"a\tb": "c\\d\ne"}, 0, 1.0, "", 5)]  # fmt: skip
