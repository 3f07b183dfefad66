"""The seam between submission and the quality engine.

`annotation_submit` calls `item_after_vote` inside its transaction, with the item row locked.
Until the quality-control capability replaces the body, an item is done after a fixed number
of votes (`item.needed_votes`).
"""

from __future__ import annotations

from labeling.models import Item


def item_after_vote(*, item: Item) -> None:
    if item.votes_count >= item.needed_votes and item.status == Item.Status.OPEN:
        item.status = Item.Status.DONE
        item.save(update_fields=["status", "updated_at"])


def annotator_may_label(*, user, project) -> bool:  # noqa: ANN001
    """False for annotators blocked in this project (the quality engine decides)."""
    return True
