"""Review actions: accept keeps the consensus, reject, fix sets the label and makes the item gold."""

from __future__ import annotations

import pytest

from annotate.exceptions import ServiceError
from labeling.models import Item, ReviewAction
from labeling.selectors.review import review_items
from labeling.services.quality import project_reaggregate
from labeling.services.quality.review import review_accept, review_fix, review_reject
from tests.labeling.quality.qfactories import cast, make_project

pytestmark = pytest.mark.django_db


def test_review_queue_and_actions(make_user):
    project, items = make_project(slug="rev", n_items=3, min_votes=2, max_votes=2, target=0.95)
    reviewer = make_user("rv", role="reviewer")
    a, b = make_user("a"), make_user("b")
    for item in items:  # 1 yes, 1 no: max votes without consensus -> review
        cast(a, item, 1)
        cast(b, item, 0)
    queue = review_items(project=project)
    assert [i.pk for i in queue] == [i.pk for i in items]
    assert all(i.status == Item.Status.REVIEW and i.reason == "max votes without consensus" for i in queue)

    accepted = review_accept(item=items[0], reviewer=reviewer)
    assert accepted.status == Item.Status.ACCEPTED and accepted.label is not None
    rejected = review_reject(item=items[1], reviewer=reviewer)
    assert rejected.status == Item.Status.REJECTED and rejected.label == 0
    fixed = review_fix(item=items[2], label=1, reviewer=reviewer)
    assert fixed.is_gold and fixed.gold_label == 1 and fixed.label == 1 and fixed.status == Item.Status.ACCEPTED
    assert fixed.confidence == 1.0
    log = list(ReviewAction.objects.filter(item__project=project).order_by("id").values_list("action", "label"))
    assert log[0][0] == "accept" and log[1] == ("reject", 0) and log[2] == ("fix", 1)
    assert review_items(project=project) == []
    with pytest.raises(ServiceError):
        review_fix(item=items[2], label=5, reviewer=reviewer)

    # The fixed item is gold from now on: it scores the annotators at the next re-aggregation.
    project_reaggregate(project_id=project.pk)
    scores = {s.user.username: s for s in project.annotator_scores.select_related("user")}
    assert scores["a"].gold_seen == 1 and scores["a"].gold_correct == 1
    assert scores["b"].gold_seen == 1 and scores["b"].gold_correct == 0
    assert Item.objects.get(pk=items[0].pk).status == Item.Status.ACCEPTED  # reviewed items keep their status
