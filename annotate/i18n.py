"""Words for the status values people see (items, votes, annotators, batches, exports, runs).

The values themselves are stable identifiers (database, API, CSS classes, tests) and stay English; a page shows
`status_text(value)`, which is the value itself in English and its translation in another language. Kept out of the
models' `choices` on purpose: a changed choice label is a migration, a translated word is not.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

STATUS_TEXT: dict[str, Promise] = {
    # items
    "open": pgettext_lazy("status", "open"),
    "done": pgettext_lazy("status", "done"),
    "review": pgettext_lazy("status", "review"),
    "accepted": pgettext_lazy("status", "accepted"),
    "rejected": pgettext_lazy("status", "rejected"),
    # annotators
    "new": pgettext_lazy("status", "new"),
    "active": pgettext_lazy("status", "active"),
    "probation": pgettext_lazy("status", "probation"),
    "blocked": pgettext_lazy("status", "blocked"),
    # batches, exports, training runs
    "queued": pgettext_lazy("status", "queued"),
    "running": pgettext_lazy("status", "running"),
    "failed": pgettext_lazy("status", "failed"),
    "succeeded": pgettext_lazy("status", "succeeded"),
    "cancelled": pgettext_lazy("status", "cancelled"),
    # review actions
    "accept": pgettext_lazy("review action", "accept"),
    "reject": pgettext_lazy("review action", "reject"),
    "fix": pgettext_lazy("review action", "fix"),
    # ingest entries
    "pending": pgettext_lazy("status", "pending"),
    "ingested": pgettext_lazy("status", "ingested"),
    "duplicate": pgettext_lazy("status", "duplicate"),
    "near_duplicate": pgettext_lazy("status", "near_duplicate"),
    # webhook deliveries (pending and failed above)
    "retrying": pgettext_lazy("status", "retrying"),
    "delivered": pgettext_lazy("status", "delivered"),
}


def status_text(value: object) -> str:
    """The status as a person reads it in the active language (unknown values as they are)."""
    text = STATUS_TEXT.get(str(value))
    return str(text) if text is not None else str(value)
