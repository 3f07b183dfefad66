"""The one writer of an item's state (CONVENTIONS §19; quality.md, "Who may change an item's status").

Every change of `Item.status` (and of the decision fields around it) goes through `items_write`: it checks each
item's transition against the table of what its caller may do, bumps the item's `version` (what a long
computation compares before writing back what it read), and writes the rows set-based. A transition a caller may
not make is not an error of the data but a rule: `settle` tells the caller, before it writes, which status the
item keeps, so that e.g. a re-aggregation never undoes a reviewer's or a label-error finder's routing.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np
from django.utils import timezone

from annotate.db import bulk_update_values
from annotate.db_copy import bulk_update_columns
from labeling.models import Item

S = Item.Status
R = Item.ReviewReason


class Caller(StrEnum):
    ONLINE = "online"  # a vote (annotation_submit's online update)
    REAGGREGATE = "reaggregate"  # the full re-aggregation
    VOTER = "voter"  # a trained model's vote (training.services.voter)
    ZERO_SHOT = "zero_shot"  # the pretrained classifier's vote (same service as the voter)
    LABEL_ERRORS = "label_errors"  # cross-validated label-error finder
    STALLED = "stalled"  # the stalled / no-annotator sweep (and the vote path's in-transaction check)
    GOLD = "gold"  # making an item gold or removing its gold answer
    REVIEW = "review"  # a reviewer's accept / reject / fix
    CURATION = "curation"  # a researcher or reviewer sending items to review
    RETRO = "retro"  # re-deciding items whose evidence was withdrawn: a voter blocked or unblocked, a model vote voided


ENGINE = (S.OPEN, S.DONE, S.REVIEW)
# Review reasons the engine itself gives and takes back on new evidence; any other review reason is a person's
# or a finder's routing, which only new votes (online), the stalled sweep (no_annotator only) or a reviewer undo.
ENGINE_REASONS = {R.MAX_VOTES, ""}
# Routings about waiting for a vote: a new vote answers them, so the vote path re-decides such an item freely.
WAITING_REASONS = {R.NO_ANNOTATOR, R.STALLED}

# caller -> {(from, to)}; same-status writes (new posterior, same status) are listed explicitly too.
ALLOWED: dict[Caller, set[tuple[str, str]]] = {
    Caller.ONLINE: {(a, b) for a in ENGINE for b in ENGINE},
    Caller.RETRO: {(a, b) for a in ENGINE for b in ENGINE},
    Caller.GOLD: {(a, b) for a in ENGINE for b in ENGINE} | {(S.ACCEPTED, S.ACCEPTED), (S.REJECTED, S.REJECTED)},
    Caller.REAGGREGATE: {(a, b) for a in ENGINE for b in ENGINE},
    Caller.VOTER: {(S.OPEN, S.OPEN), (S.OPEN, S.DONE)},
    Caller.ZERO_SHOT: {(S.OPEN, S.OPEN), (S.OPEN, S.DONE)},
    Caller.LABEL_ERRORS: {(S.OPEN, S.REVIEW), (S.DONE, S.REVIEW), (S.ACCEPTED, S.REVIEW)},
    Caller.STALLED: {(S.OPEN, S.REVIEW), (S.REVIEW, S.OPEN)},
    Caller.REVIEW: {(a, b) for a in (*ENGINE, S.ACCEPTED, S.REJECTED) for b in (S.ACCEPTED, S.REJECTED)},
    Caller.CURATION: {(S.OPEN, S.REVIEW), (S.DONE, S.REVIEW), (S.ACCEPTED, S.REVIEW), (S.REJECTED, S.REVIEW)},
}


class TransitionRefused(Exception):
    """A caller tried a transition the table does not give it: a programming error, never user input."""


def allowed(caller: Caller, before: str, after: str) -> bool:
    return (before, after) in ALLOWED[caller]


def settle(caller: Caller, before: str, before_reason: str, after: str, after_reason: str) -> tuple[str, str]:
    """The (status, review reason) the item ends with when `caller`'s decision is (after, after_reason).

    * A transition the table does not give the caller: the item keeps its status and reason.
    * Re-aggregation and retroactive re-decisions never take an item out of a review somebody else routed it to
      (label errors, curator, stalled, no annotator: finding 17); they may move the engine's own reasons.
    * A new vote (online) re-decides an item waiting in review for a vote (no annotator, stalled) freely; an item
      a person or the label-error finder sent to review stays there (its reason too) unless the vote finishes it."""
    if caller == Caller.ONLINE and before == S.REVIEW and before_reason in WAITING_REASONS:
        return (after, after_reason) if allowed(caller, before, after) else (before, before_reason)
    if before == after and before == S.REVIEW and before_reason not in ENGINE_REASONS:
        return before, before_reason
    if caller in (Caller.REAGGREGATE, Caller.RETRO) and before == S.REVIEW and before_reason not in ENGINE_REASONS:
        return before, before_reason
    if caller in (Caller.VOTER, Caller.ZERO_SHOT) and after == S.REVIEW:  # a model never sends an item to review
        return before, before_reason
    if not allowed(caller, before, after):
        return before, before_reason
    return after, after_reason


def items_write(*, caller: Caller, items: Sequence[Item], fields: Sequence[str], before: dict[int, str]) -> int:
    """Write `fields` of `items` (rows the caller holds locked, or re-checked by version under lock), each one's
    status change checked against the table (`before`: item id -> status it had), and every version bumped.
    One UPDATE … FROM (VALUES …) on PostgreSQL."""
    if not items:
        return 0
    now = timezone.now()
    for item in items:
        if "status" in fields and not allowed(caller, before[item.pk], item.status):
            raise TransitionRefused(f"{caller} may not move item {item.pk} from {before[item.pk]} to {item.status}")
        item.version = (item.version or 0) + 1
        item.updated_at = now
    names = list(dict.fromkeys([*fields, "version", "updated_at"]))
    return bulk_update_values(Item, list(items), names)


def item_save(*, caller: Caller, item: Item, fields: Sequence[str], before: str) -> None:
    """items_write for one item (its row locked by the caller): a plain save(update_fields)."""
    if "status" in fields and not allowed(caller, before, item.status):
        raise TransitionRefused(f"{caller} may not move item {item.pk} from {before} to {item.status}")
    item.version = (item.version or 0) + 1
    item.save(update_fields=list(dict.fromkeys([*fields, "version", "updated_at"])))


def items_write_columns(*, caller: Caller, ids: np.ndarray, versions: np.ndarray, before: np.ndarray,
                        columns: dict[str, list]) -> int:  # fmt: skip
    """items_write for column data (a re-aggregation writes up to a million items: no model instance each): `ids`
    the rows (locked or re-checked by version), `versions` the versions read (each written one higher), `before`
    the statuses they had, `columns` field name -> one value per row. The same table of transitions, checked once
    per distinct (from, to) pair."""
    if not len(ids):
        return 0
    if "status" in columns:
        pairs = set(zip(np.asarray(before).tolist(), columns["status"], strict=True))
        for frm, to in pairs:
            if not allowed(caller, frm, to):
                raise TransitionRefused(f"{caller} may not move an item from {frm} to {to}")
    now = timezone.now()
    return bulk_update_columns(Item, ids, {**columns, "version": (np.asarray(versions) + 1).tolist(),
                                           "updated_at": [now] * len(ids)})  # fmt: skip
