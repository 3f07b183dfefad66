"""find_label_errors: K-fold out-of-sample probabilities from pretrained features, cleanlab ranking, the review
queue. Shapes always (synthetic, 90 images); imagenette photos when ../shared is there."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from labeling.models import DatasetVersion, DatasetVersionItem, Item, ModelOpinion
from tests.training.factories import IMAGENETTE, photo_version, shapes_version
from training.ml.label_errors import rank_label_errors

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def checkpoints(tmp_path, settings):
    settings.ANNOTATE = {**settings.ANNOTATE, "CHECKPOINT_DIR": str(tmp_path / "ckpt")}


def _call(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _flip(version: DatasetVersion, rows: list[DatasetVersionItem], k: int) -> None:
    names = {int(c["index"]): c["name"] for c in version.classes}
    for row in rows:
        row.class_index = (row.class_index + 1) % k
        row.label_name = names[row.class_index]
        row.save(update_fields=["class_index", "label_name"])


def test_rank_label_errors_orders_by_margin_and_cuts_off():
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.25, 0.75], [0.05, 0.95], [0.97, 0.03]])
    ranked = rank_label_errors(labels, probs)
    assert [(s.index, s.label, s.suggested) for s in ranked] == [(3, 1, 0), (1, 0, 1)]
    assert ranked[0].score == pytest.approx(0.97) and ranked[1].score == pytest.approx(0.75)
    assert rank_label_errors(labels, probs, threshold=0.2) == ranked[:1]
    with pytest.raises(ValueError, match="one row per label"):
        rank_label_errors(labels, probs[:3])


def test_find_label_errors_on_shapes_flags_the_flipped_labels(make_user):
    owner = make_user("rita", role="researcher")
    s = shapes_version(owner=owner, n_per_class=30, size=64, n_gold=3)
    rows = list(DatasetVersionItem.objects.filter(version=s.version).order_by("id"))
    flipped = rows[::15]  # 6 of 90, two per class
    _flip(s.version, flipped, 3)
    items = {it.image_id: it for it in Item.objects.filter(project=s.project, is_gold=False)}
    out, err = _call("find_label_errors", "--version", str(s.version.pk), "--folds", "3", "--json")
    report = json.loads(out.strip().splitlines()[-1])
    assert set(report) == {"version", "checked", "suspected", "items"} and report["checked"] == 90
    assert report["suspected"] == len(report["items"]) and "sent to review" in err
    assert set(report["items"][0]) == {"item", "sha256", "label", "suggested", "score"}
    scores = [it["score"] for it in report["items"]]
    assert scores == sorted(scores, reverse=True)
    found = {it["item"] for it in report["items"]}
    truth = {items[r.image_id].pk for r in flipped}
    assert len(found & truth) >= 5, (report, truth)  # recall >= 5/6
    assert len(found - truth) <= 3, report  # few false alarms
    for it in report["items"]:
        row = next(r for r in flipped if items[r.image_id].pk == it["item"]) if it["item"] in truth else None
        if row is not None:  # the suggestion is the true shape, the label the flipped one
            assert it["label"] == row.label_name and it["suggested"] != row.label_name
    reviewed = Item.objects.filter(project=s.project, status=Item.Status.REVIEW)
    assert {i.pk for i in reviewed} == found
    assert {i.review_reason for i in reviewed} == {Item.ReviewReason.MODEL_DISAGREES_CV}
    assert Item.ReviewReason(reviewed[0].review_reason).label == "model disagrees (cross-validated)"
    notes = ModelOpinion.objects.filter(item__in=reviewed, source=ModelOpinion.Source.LABEL_ERROR)
    assert sorted(notes.values_list("item_id", flat=True)) == sorted(found)
    assert all(n.detail["folds"] == 3 and n.predicted is not None for n in notes)
    assert not Item.objects.filter(is_gold=True).exclude(status=Item.Status.OPEN).exists()
    # the features are cached: a dry run is fast, ranks the same and sends nothing more
    Item.objects.filter(pk__in=found).update(status=Item.Status.DONE, review_reason="")
    again, _ = _call("find_label_errors", "--version", str(s.version.pk), "--folds", "3", "--json", "--dry-run")
    assert json.loads(again.strip().splitlines()[-1]) == report
    assert not Item.objects.filter(project=s.project, status=Item.Status.REVIEW).exists()
    with pytest.raises(CommandError, match="No dataset version"):
        _call("find_label_errors", "--version", "999999")
    with pytest.raises(CommandError, match="at least 2"):
        _call("find_label_errors", "--version", str(s.version.pk), "--folds", "1")


@pytest.mark.skipif(not IMAGENETTE.is_dir(), reason="needs ../shared/data/images/imagenette_224")
def test_find_label_errors_on_real_photos(make_user):
    version, rows = photo_version(make_user("rita", role="researcher"), per_class=8)
    flipped = rows[3::10]  # 8 of 80 (10 %), one per class
    _flip(version, flipped, 10)
    out, _ = _call("find_label_errors", "--version", str(version.pk), "--folds", "4", "--json", "--dry-run")
    report = json.loads(out.strip().splitlines()[-1])
    found = {it["sha256"] for it in report["items"]}
    truth = {r.image_sha256 for r in flipped}
    assert len(found & truth) >= 7 and len(found - truth) <= 4, (report, len(found & truth))  # measured 8 and 2
