"""annotate.db and annotate.db_copy: bulk_update_values writes the same rows as Django's bulk_update,
insert_rows the rows bulk_create writes, and the `any_of` lookup selects what `in` selects, on the project's real
database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate.db import IdList, bulk_update_values
from annotate.db_copy import insert_rows
from labeling.models import DatasetExport, DatasetVersion, DatasetVersionItem, Item
from tests.helpers.factories import make_project_with_items
from tests.helpers.services import require_postgres

pytestmark = pytest.mark.django_db

FIELDS = ["confidence", "label", "posterior", "priority", "status", "answer", "updated_at", "excluded"]


def _values(ids):
    return {i.pk: tuple(getattr(i, f) for f in FIELDS) for i in Item.objects.filter(pk__in=ids).order_by("pk")}


def test_bulk_update_values_writes_what_bulk_update_writes():
    _, items = make_project_with_items(slug="bulk", n_items=6, categories=("cat",))
    ids = [i.pk for i in items]
    rows = []
    for n, item in enumerate(items):
        item.confidence = None if n == 0 else n / 10
        item.label = None if n == 1 else n
        item.posterior = None if n == 2 else {"0": 0.25, "1": 0.75, "note": 'it\'s "quoted" — ünïcode'}
        item.priority = 1.5 + n
        item.status = Item.Status.REVIEW if n % 2 else Item.Status.DONE
        item.answer = {"boxes": [[1.5, 2, 3, 4]]} if n == 3 else None
        item.updated_at = datetime(2026, 12, 7, 8, n, 30, 250_000, tzinfo=UTC)  # a datetime stays a datetime
        item.excluded = bool(n % 3)
        rows.append(item)
    with CaptureQueriesContext(connection) as ctx:
        assert bulk_update_values(Item, rows, FIELDS, batch_size=4) == 6
    assert len(ctx.captured_queries) == 2  # one flat statement per batch, on SQLite too (no CASE per row)
    ours = _values(ids)
    Item.objects.filter(pk__in=ids).update(confidence=0.0, label=-5, posterior={}, priority=0.0, status="open")
    Item.objects.bulk_update(rows, FIELDS)
    assert _values(ids) == ours
    assert ours[items[2].pk][2] is None and ours[items[3].pk][5] == {"boxes": [[1.5, 2, 3, 4]]}
    assert ours[items[4].pk][6] == datetime(2026, 12, 7, 8, 4, 30, 250_000, tzinfo=UTC)


def test_bulk_update_values_touches_only_the_named_fields():
    _, items = make_project_with_items(slug="bulk2", n_items=2, categories=("cat",))
    Item.objects.filter(pk=items[0].pk).update(label=7, posterior={"7": 1.0})
    only_votes = [Item(id=items[0].pk, votes_count=3)]  # every other attribute is a model default here
    assert bulk_update_values(Item, only_votes, ["votes_count"]) == 1
    row = Item.objects.get(pk=items[0].pk)
    assert (row.votes_count, row.label, row.posterior) == (3, 7, {"7": 1.0})
    assert bulk_update_values(Item, [], ["votes_count"]) == 0


def test_bulk_update_values_refuses_an_over_long_string_instead_of_cutting_it():
    from django.db import DataError, transaction

    require_postgres()  # SQLite does not enforce varchar lengths at all
    _, items = make_project_with_items(slug="bulk3", n_items=1, categories=("cat",))
    item = items[0]
    item.status = "x" * 40  # the column is varchar(16)
    with pytest.raises(DataError), transaction.atomic():
        bulk_update_values(Item, [item], ["status"])
    assert Item.objects.get(pk=item.pk).status == Item.Status.OPEN


def test_any_of_selects_what_in_selects_with_one_parameter():
    _, items = make_project_with_items(slug="anyof", n_items=30, categories=("cat",))
    ids = [i.pk for i in items]
    wanted = [*ids[::3], ids[-1] + 10_000]  # one id that is no item
    query = Item.objects.filter(pk__any_of=wanted).values_list("pk", flat=True).order_by("pk")
    assert list(query) == sorted(ids[::3])
    assert len(query.query.sql_with_params()[1]) == 1  # the 11 ids travel as one parameter, not 11
    assert list(Item.objects.filter(pk__any_of=[])) == []
    assert list(Item.objects.exclude(pk__any_of=IdList(ids[1:])).values_list("pk", flat=True)) == [ids[0]]
    # across a relation (the assignment engine's held leases), and a reused IdList gives the same answer twice
    shared = IdList(wanted)
    assert Item.objects.filter(image__items__id__any_of=shared).count() == 10
    assert Item.objects.filter(pk__any_of=shared).count() == 10


def test_postgres_jit_is_off_on_our_connections():
    """JIT compilation cost more than the hot statements themselves (issue 26): off at connection start."""
    require_postgres()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


def _version_rows(version):
    skip = {"id", "version"}
    names = [f.attname for f in DatasetVersionItem._meta.concrete_fields if f.name not in skip]
    return sorted(tuple(getattr(r, n) if n != "version_id" else None for n in names)
                  for r in DatasetVersionItem.objects.filter(version=version))  # fmt: skip


def test_insert_rows_writes_what_bulk_create_writes():
    """Tuples in (COPY in CSV on PostgreSQL): quotes, commas, line breaks, backslashes, empty strings and NULLs
    come back as bulk_create stores them, over several batches."""
    import numpy as np

    project, items = make_project_with_items(slug="insrows", n_items=5, categories=("cat",))
    first, second = (DatasetVersion.objects.create(project=project, number=n, name=f"v{n}") for n in (1, 2))
    texts = ['it\'s "quoted", with a comma', "line\nbreak\r\nand\ttab", "back\\slash \\N", "", "ünïcode ✓"]
    names = [f.attname for f in DatasetVersionItem._meta.concrete_fields if f.name != "id"]

    def values(version, n, item):
        return dict(
            version_id=version.pk, image_id=item.image_id, image_sha256=f"{n:064x}", cluster_id=item.image_id,
            category_id=None if n % 2 else item.category_id, class_index=np.int64(n - 1), label_name=texts[n],
            split="train", posterior=None if n == 1 else np.float64(n / 3), votes={"yes": n, "t": texts[n]},
            n_votes=n, soft_label={}, annotators=[texts[n]][: n % 2], boxes=[[0.1, 0.2, 0.3, 0.4, n]],
            item_ids=[item.pk], is_gold=bool(n % 2), source_uri=texts[-1 - n], license="", attribution=texts[n],
        )  # fmt: skip

    rows = [tuple(values(first, n, item)[k] for k in names) for n, item in enumerate(items)]
    assert insert_rows(DatasetVersionItem, names, iter(rows), batch_size=2) == 5
    DatasetVersionItem.objects.bulk_create([DatasetVersionItem(**values(second, n, it)) for n, it in enumerate(items)])
    assert _version_rows(first) == _version_rows(second)
    assert insert_rows(DatasetVersionItem, names, []) == 0
    if connection.vendor == "postgresql":  # CSV cannot tell NULL from "" in a nullable text column
        with pytest.raises(ValueError, match="nullable text"):
            insert_rows(DatasetExport, ["version_id", "options_key"], [])
