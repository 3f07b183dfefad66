"""The model voter decides through the quality engine's one decider (issue 22, finding 16): its class space has
"none of these", and it does not vote on items whose images the run trained on (their human votes would count
twice: once as votes, once through the model that learned them)."""

from __future__ import annotations

import pytest

from labeling.models import DatasetVersionItem, Item
from tests.helpers.factories import stored_vote
from tests.training.factories import shapes_version
from training.models import ModelPrediction, TrainingRun
from training.services.voter import model_voter_apply

pytestmark = pytest.mark.django_db


def _predict(run: TrainingRun, item: Item, label: int, classes: list[int]) -> None:
    probs = {str(c): (0.9 if c == label else 0.1 / (len(classes) - 1)) for c in classes}
    ModelPrediction.objects.create(run=run, item=item, probs=list(probs.values()), label_probs=probs,
                                   predicted_label=label, confidence=0.9, entropy=0.3, margin=0.8)  # fmt: skip


def test_the_voter_skips_items_trained_on_and_votes_with_none_in_its_space(make_user):
    setup = shapes_version(owner=make_user("own", role="researcher"), n_per_class=10, n_gold=12, n_extra=3)
    project, version = setup.project, setup.version
    classes = [c.pk for c in setup.categories]
    run = TrainingRun.objects.create(version=version, architecture="resnet18")
    for gold in setup.gold:  # measured on checked items it never trained on: right every time
        _predict(run, gold, gold.gold_label, classes)
    trained = list(
        Item.objects.filter(
            project=project,
            image_id__in=DatasetVersionItem.objects.filter(version=version, split="train").values("image_id"),
        )[:3]
    )
    Item.objects.filter(pk__in=[i.pk for i in trained]).update(status=Item.Status.OPEN)  # reopened since
    for item in [*trained, *setup.extra]:
        _predict(run, item, classes[0], classes)
    model_voter_apply(run=run, project=project, min_checked=10)
    for item in trained:
        assert stored_vote(item) is None
    for item in setup.extra:
        vote = stored_vote(item)
        assert set(vote) == {str(c) for c in [*classes, -1]}  # "none of these" is in the space
    assert TrainingRun.objects.get(pk=run.pk).voter_labels == [*classes, -1]
