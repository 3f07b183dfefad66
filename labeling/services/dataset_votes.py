"""The votes behind a dataset version, copied when the version is created (labeling.services.datasets): the
`raw_votes` export reads the copies, so editing or deleting live votes, items or users never changes a published
version. Copied set-based, `INSERT ... SELECT` (PostgreSQL: one statement, the item ids as an array; SQLite: one
per chunk of items): a version of a million items carries millions of votes, and building a model instance per
vote cost ~170 µs each (5M votes: a quarter of an hour); the annotators' pseudonyms (an HMAC, computed in Python)
join in as a VALUES list."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import connection

from labeling.models import Annotation, Category, DatasetVersion, DatasetVersionVote, Item

ITEM_CHUNK = 2000  # item ids per statement
USER_CHUNK = 5000  # pseudonyms per statement (two parameters each: SQLite allows 32,766 in all)


def annotator_pseudonym(*, project_id: int, user_id: int) -> str:
    """Stable per project, unlinkable across projects and never the username: HMAC(SECRET_KEY, project:user)."""
    msg = f"annotator:{project_id}:{user_id}".encode()
    return "a_" + hmac.new(settings.SECRET_KEY.encode(), msg, hashlib.sha256).hexdigest()[:16]


def version_votes_copy(version: DatasetVersion, item_ids: Sequence[int], until: Any, pseudonyms: dict[int, str]) -> int:
    """Copy the votes on `item_ids` (the version's rows', sorted) cast up to `until` into DatasetVersionVote;
    returns how many. `pseudonyms` names every user who cast one (the caller read those votes already).

    Each copy names its category (verify: the item's; classify: the voted one, a vote's label being a category
    id, so the file reads without our ids) and its annotator by the per-project pseudonym."""
    project_id = version.project_id
    users = sorted(pseudonyms)
    if not users or not item_ids:
        return 0
    quote = connection.ops.quote_name
    vote, item, category = (m._meta.db_table for m in (Annotation, Item, Category))
    target = DatasetVersionVote._meta.db_table
    columns = ", ".join(
        quote(c)
        for c in ("version_id", "vote_id", "item_id", "image_id", "category_name", "annotator", "label", "answer",
                  "time_spent_ms", "created_at")
    )  # fmt: skip
    named = "COALESCE(i.category_id, a.label)" if version.project.task_type == "classify" else "i.category_id"
    empty = "'{}'::jsonb" if connection.vendor == "postgresql" else "'{}'"
    until_param = Annotation._meta.get_field("created_at").get_db_prep_value(until, connection)
    if connection.vendor == "postgresql":
        # One statement per user chunk, the ids as one array: with a list of ids per statement the planner joins
        # the project's whole item table once per chunk (a million items: 500 scans of a million rows).
        chunks: list[Sequence[int]] = [item_ids]
        where = "a.item_id = ANY(%s) AND i.id = ANY(%s)"
    else:
        chunks = [item_ids[start : start + ITEM_CHUNK] for start in range(0, len(item_ids), ITEM_CHUNK)]
        where = ""
    copied = 0
    with connection.cursor() as cursor:
        for start in range(0, len(users), USER_CHUNK):
            names = [(u, pseudonyms[u]) for u in users[start : start + USER_CHUNK]]
            values = ", ".join(["(%s, %s)"] * len(names))
            for chunk in chunks:
                ids: list[object] = [list(chunk), list(chunk)] if where else list(chunk)
                matches = where or f"a.item_id IN ({', '.join(['%s'] * len(chunk))})"
                sql = (
                    f"INSERT INTO {quote(target)} ({columns}) "  # noqa: S608 - names from the models
                    f"SELECT %s, a.id, a.item_id, i.image_id, COALESCE(SUBSTR(c.name, 1, 200), ''), p.column2, "
                    f"a.label, COALESCE(a.answer, {empty}), a.time_spent_ms, a.created_at "
                    f"FROM {quote(vote)} a JOIN {quote(item)} i ON i.id = a.item_id "
                    f"JOIN (VALUES {values}) AS p ON p.column1 = a.user_id "
                    f"LEFT JOIN {quote(category)} c ON c.id = {named} AND c.project_id = %s "
                    f"WHERE {matches} AND a.created_at <= %s"
                )
                params: list[object] = [version.pk, *(x for pair in names for x in pair), project_id, *ids,
                                        until_param]  # fmt: skip
                cursor.execute(sql, params)
                copied += cursor.rowcount
    return copied
