"""The seam between submission/assignment and the quality engine (labeling.services.quality).

`annotation_submit` calls `item_after_vote` inside its transaction, with the item row locked;
`next_items` and `annotation_submit` ask `annotator_may_label` before giving or taking work.
"""

from __future__ import annotations

from labeling.models import Item


def item_after_vote(*, item: Item) -> None:
    from labeling.services.quality import item_after_vote as engine_after_vote

    engine_after_vote(item=item)


def annotator_may_label(*, user, project) -> bool:
    """False for annotators blocked in this project."""
    from labeling.services.quality import annotator_may_label as engine_may_label

    return engine_may_label(user=user, project=project)
