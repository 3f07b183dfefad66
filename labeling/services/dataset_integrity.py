"""A dataset version's integrity: the content hash recorded at creation and the check every export runs before
reading a version (issue 28: what is published never changes, and a changed row is caught, not exported)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from operator import attrgetter
from typing import Any

from django.utils.translation import gettext as _

from annotate.exceptions import ServiceError
from labeling.models import DatasetVersion, DatasetVersionItem, DatasetVersionVote

# json.dumps(record, sort_keys=True, ensure_ascii=False) with the encoder built once, not per row: the same bytes.
_DIGEST_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False)


def _row_digest_record(r: Any) -> list[Any]:
    """A row's part of the digest: `r` is a DatasetVersionItem, or anything with its attributes (the rows
    dataset_version_create writes)."""
    return [r.image_sha256, r.cluster_id, r.label_name, r.class_index, r.split, r.posterior, r.votes, r.soft_label,
            r.annotators, r.boxes, r.is_gold, r.source_uri, r.license, r.attribution]  # fmt: skip


def content_hash(classes: list[dict[str, Any]], rows: Iterable[Any], *, presorted: bool = False) -> str:
    """SHA-256 over the class list and the rows sorted by image hash (canonical JSON, one line each)."""
    h = hashlib.sha256()
    h.update(json.dumps([c["name"] for c in classes], ensure_ascii=False).encode())
    encode = _DIGEST_ENCODER.encode
    for r in rows if presorted else sorted(rows, key=attrgetter("image_sha256")):
        h.update(b"\n" + encode(_row_digest_record(r)).encode())
    return h.hexdigest()


_DIGEST_FIELDS = ("image_sha256", "cluster_id", "label_name", "class_index", "split", "posterior", "votes",
                  "soft_label", "annotators", "boxes", "is_gold", "source_uri", "license", "attribution")  # fmt: skip


def dataset_version_verify(*, version: DatasetVersion) -> None:
    """Recompute the version's content hash from its stored rows (streamed in SHA-256 order) and, for a
    version with a vote snapshot, count its votes; raise `version_corrupt` when either differs from what was
    recorded at creation. Every export reads a version through this check first."""
    rows = DatasetVersionItem.objects.filter(version=version).order_by("image_sha256", "id").only(*_DIGEST_FIELDS)
    digest = content_hash(version.classes, rows.iterator(chunk_size=2000), presorted=True)
    expected_votes = version.filters.get("votes_snapshot")
    votes_ok = expected_votes is None or DatasetVersionVote.objects.filter(version=version).count() == expected_votes
    if digest != version.content_hash or not votes_ok:
        raise ServiceError(
            _("Version %(number)s no longer matches its content hash: its stored rows were changed.")
            % {"number": version.number},
            code="version_corrupt",
            status_code=409,
        )
