"""Dataset card texts: review is mentioned only when it happened, method names show without markdown escapes."""

from __future__ import annotations

import pytest

from labeling.services.curation import items_send_to_review, items_set_excluded
from labeling.services.datasets import dataset_version_create
from labeling.services.quality.review import review_accept
from labeling.views.datasets import render_card
from tests.labeling.quality.qfactories import cast, make_project

pytestmark = pytest.mark.django_db


def test_card_texts(make_user):
    owner = make_user("owner", role="researcher")
    project, items = make_project(slug="card", owner=owner, n_items=4, min_votes=1, max_votes=3, target=0.5)
    for item in items:
        cast(make_user(f"v{item.pk}"), item, 1)
    v1 = dataset_version_create(project=project, created_by=owner)
    assert "No item went to expert review." in v1.card
    assert "expert reviewers" not in v1.card and "waiting for expert review" not in v1.card
    html = render_card(v1.card)
    assert f"<code>{project.aggregation_method}</code>" in html and "\\_" not in html

    items[0].refresh_from_db()
    review_accept(item=items[0], reviewer=owner)
    items_send_to_review(project=project, item_ids=[items[1].pk, items[2].pk], user=owner)
    items_set_excluded(project=project, item_ids=[items[3].pk], excluded=True, user=owner)
    v2 = dataset_version_create(project=project, created_by=owner)
    assert "1 item was checked by expert reviewers" in v2.card
    assert "2 items without consensus were waiting for expert review" in v2.card
    assert "1 item was excluded by curators." in v2.card
    assert "No item went to expert review." not in v2.card


def test_the_card_language_is_explicit_never_the_threads(make_user):
    """CI saw a Chinese card from a service call after a zh-Hans request in an earlier test of the same process:
    the card followed whatever language the thread had active. The service writes it in the language it is given
    (the page and the API pass the researcher's), else in the site's default."""
    from django.utils import translation

    owner = make_user("owner", role="researcher")
    project, items = make_project(slug="card-lang", owner=owner, n_items=3, min_votes=1, max_votes=3, target=0.5)
    for item in items:
        cast(make_user(f"w{item.pk}"), item, 1)
    translation.activate("zh-hans")
    try:
        english = dataset_version_create(project=project, created_by=owner)
        chinese = dataset_version_create(project=project, created_by=owner, language="zh-hans")
    finally:
        translation.deactivate()
    assert "Known limitations" in english.card and "Known limitations" not in chinese.card
    assert "数据集版本" in chinese.card and "数据集版本" not in english.card
