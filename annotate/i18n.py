"""Words for the status values people see (items, votes, annotators, batches, exports, runs).

The values themselves are stable identifiers (database, API, CSS classes, tests) and stay English; a page shows
`status_text(value)`, which is the value itself in English and its translation in another language. Kept out of the
models' `choices` on purpose: a changed choice label is a migration, a translated word is not.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy, pgettext_lazy

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


# Why an ingest input was rejected, by its reason code (IngestEntry.reason_code, the API's `code`). The stored
# message beside it is the worker's detail (sizes, hosts, file names), recorded in English when the batch ran.
REASON_TEXT: dict[str, Promise] = {
    "archive_bomb": gettext_lazy("The archive member expands far more than an image would: refused."),
    "archive_member_unreadable": gettext_lazy("The archive member could not be extracted."),
    "blocked_address": gettext_lazy("The address is local or private: it is never fetched."),
    "corrupt": gettext_lazy("The image is damaged and cannot be decoded."),
    "decompression_bomb": gettext_lazy("The image has too many pixels to decode safely."),
    "empty": gettext_lazy("The file is empty."),
    "fetch_failed": gettext_lazy("The URL could not be fetched."),
    "http_error": gettext_lazy("The server answered with an HTTP error."),
    "internal_error": gettext_lazy("An unexpected error while decoding this image."),
    "invalid_entry": gettext_lazy("The entry cannot be read."),
    "invalid_url": gettext_lazy("Not a valid URL."),
    "missing_category": gettext_lazy("Its category no longer exists in the project."),
    "not_a_file": gettext_lazy("Not a regular file."),
    "not_an_image": gettext_lazy("Not a JPEG, PNG, WebP, GIF, BMP or TIFF image."),
    "storage_error": gettext_lazy("The image could not be stored."),
    "symlink": gettext_lazy("Links are not followed."),
    "timeout": gettext_lazy("The download took too long."),
    "too_large": gettext_lazy("The file is larger than the limit."),
    "too_large_dimensions": gettext_lazy("The image is wider or taller than the limit."),
    "too_many_attempts": gettext_lazy("Tried too many times without a result."),
    "too_many_redirects": gettext_lazy("Too many redirects."),
    "too_small": gettext_lazy("The image is smaller than the minimum size."),
    "truncated": gettext_lazy("The file ends early (an interrupted download or copy?)."),
    "unreachable": gettext_lazy("The server could not be reached."),
    "unreadable": gettext_lazy("The file cannot be read."),
    "unsafe_path": gettext_lazy("The archive member's path is unsafe: it is not extracted."),
    "unsupported_scheme": gettext_lazy("Only http and https URLs are fetched."),
}


def reason_text(code: object) -> str:
    """A rejection reason as a person reads it in the active language (an unknown code as it is)."""
    text = REASON_TEXT.get(str(code))
    return str(text) if text is not None else str(code)


def status_text(value: object) -> str:
    """The status as a person reads it in the active language (unknown values as they are)."""
    text = STATUS_TEXT.get(str(value))
    return str(text) if text is not None else str(value)
