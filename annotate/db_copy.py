"""Bulk columns in and out of the database for whole-project computations (a re-aggregation of a million items).

* `copy_columns` reads a query's rows as numpy columns. On PostgreSQL one `COPY (query) TO STDOUT (FORMAT
  binary)` parsed by `np.frombuffer`: every column int8 or float8 and never NULL (the query COALESCEs), so each
  tuple has the same width and the whole stream is one structured array -- no Python object per value (5M votes
  through a values_list cursor built 20M ints and took seconds). Elsewhere it returns None and the caller keeps its
  plain (portable) read.
* `insert_rows` inserts plain tuples (a dataset version's rows): one streamed COPY in CSV on PostgreSQL,
  `executemany` elsewhere.
* `bulk_update_columns` writes columns (primary keys + values per field) back. On PostgreSQL the rows go by COPY
  into a temporary table and one `UPDATE ... FROM` it; elsewhere `bulk_update_values`' VALUES statements, built
  from the columns without model instances.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

import numpy as np
from django.db import connection, models

from annotate.db import SQLITE_MAX_VARIABLES, _sqlite_update_from, _value_type

BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def copy_columns(sql: str, params: Sequence[Any], columns: Sequence[tuple[str, str]]) -> dict[str, np.ndarray] | None:
    """`sql`'s rows as {name: array} (`columns`: (name, "i8" | "f8") in select order), or None off PostgreSQL.

    Every selected expression must be int8 or float8 (cast in the query) and never NULL. Runs on the current
    connection, so inside the caller's transaction (and its snapshot)."""
    if connection.vendor != "postgresql":
        return None
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        query = cursor.mogrify(sql, params).decode() if params else sql
        cursor.cursor.copy_expert(f"COPY ({query}) TO STDOUT (FORMAT binary)", buffer)
    data = buffer.getbuffer()
    if bytes(data[:11]) != BINARY_SIGNATURE:
        raise ValueError("not a PostgreSQL binary COPY stream")
    header = 19 + int.from_bytes(data[15:19], "big")  # signature, flags, extension length + extension
    fields = [("count", ">i2")]
    for name, kind in columns:
        fields += [(f"{name}__len", ">i4"), (name, f">{kind}")]
    row = np.dtype(fields)
    n = (len(data) - header - 2) // row.itemsize  # 2: the trailer (-1 as int16)
    if header + n * row.itemsize + 2 != len(data):
        raise ValueError("binary COPY stream of unexpected width (a NULL or a column not int8 / float8?)")
    rows = np.frombuffer(data, dtype=row, count=n, offset=header)
    if n and (np.any(rows["count"] != len(columns))
              or any(np.any(rows[f"{name}__len"] != 8) for name, _ in columns)):  # fmt: skip
        raise ValueError("binary COPY stream: a NULL or a column not int8 / float8")
    out = {name: rows[name].astype(kind) for name, kind in columns}  # native byte order, owned (buffer freed)
    del rows, data
    return out


ESCAPES = ("\\", "\t", "\n", "\r")


def _copy_column(field: models.Field, values: list[Any]) -> list[str]:
    """One column in COPY's text format: None -> \\N, booleans t / f, floats by repr (the shortest text that reads
    back as the same double), text with backslash, tab, newline and carriage return escaped. Column at a time:
    a million rows times ten fields through a function call per value took seconds."""
    nulls = any(v is None for v in values)
    if isinstance(field, models.BooleanField):
        return ["\\N" if v is None else ("t" if v else "f") for v in values]
    if isinstance(field, models.IntegerField | models.FloatField | models.AutoField | models.ForeignKey):
        return ["\\N" if v is None else repr(v) for v in values] if nulls else list(map(repr, values))
    texts = ["\\N" if v is None else str(v) for v in values] if nulls else list(map(str, values))
    joined = "".join(t for t, v in zip(texts, values, strict=True) if v is not None)
    if any(c in joined for c in ESCAPES):
        texts = [t if v is None else _escape(t) for t, v in zip(texts, values, strict=True)]
    return texts


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _plain(field: models.Field, values: Sequence[Any]) -> list[Any]:
    """Column values as the database takes them: JSON dumped as JSONField would (text), numpy scalars made plain."""
    if isinstance(field, models.JSONField):
        return [v if v is None or isinstance(v, str) else json.dumps(v, cls=field.encoder) for v in values]
    if isinstance(values, np.ndarray) or any(isinstance(v, np.generic) for v in values[:1]):
        return np.asarray(values).tolist()  # Python numbers (a numpy scalar's repr is not its value's text)
    if isinstance(field, models.DateTimeField):
        done: dict = {}  # usually one timestamp for every row: converted once
        out = []
        for v in values:
            if v is not None and v not in done:
                done[v] = field.get_db_prep_save(v, connection)
            out.append(None if v is None else done[v])
        return out
    return list(values)


def bulk_update_columns(model: type[models.Model], pks: Sequence[int] | np.ndarray,
                        columns: dict[str, Sequence[Any]], *, batch_size: int = 2000) -> int:  # fmt: skip
    """Set `columns` (field name -> one value per pk; JSON fields may be given as ready JSON text) on the rows
    `pks`. No signals, no auto_now (like bulk_update). Returns the number of rows updated."""
    pk_list = np.asarray(pks, dtype=np.int64).tolist()
    if not pk_list:
        return 0
    meta = model._meta
    fields = [meta.get_field(name) for name in columns]
    values = [_plain(field, columns[field.name]) for field in fields]
    quote = connection.ops.quote_name
    pk = meta.pk
    if connection.vendor == "postgresql":
        table = "_bulk_update_columns"
        spec = ", ".join(f"{quote(f.column)} {_value_type(f)}" for f in [pk, *fields])
        texts = [
            _copy_column(pk, pk_list),
            *(_copy_column(f, column) for f, column in zip(fields, values, strict=True)),
        ]
        lines = io.StringIO("".join(f"{line}\n" for line in map("\t".join, zip(*texts, strict=True))))
        assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields)
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMPORARY TABLE {table} ({spec}) ON COMMIT DROP")
            cursor.cursor.copy_expert(f"COPY {table} FROM STDIN", lines)
            cursor.execute(
                f"UPDATE {quote(meta.db_table)} AS t SET {assignments} FROM {table} AS v "  # noqa: S608 - model names
                f"WHERE t.{quote(pk.column)} = v.{quote(pk.column)}"
            )
            updated = cursor.rowcount
            cursor.execute(f"DROP TABLE {table}")
        return updated
    if connection.vendor == "sqlite" and _sqlite_update_from():
        batch_size = min(batch_size, SQLITE_MAX_VARIABLES // (1 + len(fields)))
        assignments = ", ".join(f"{quote(f.column)} = v.column{n}" for n, f in enumerate(fields, start=2))
        row = "(" + ", ".join(["%s"] * (1 + len(fields))) + ")"
        updated = 0
        with connection.cursor() as cursor:
            for start in range(0, len(pk_list), batch_size):
                chunk = slice(start, start + batch_size)
                params = [v for r in zip(pk_list[chunk], *(c[chunk] for c in values), strict=True) for v in r]
                n = len(pk_list[chunk])
                cursor.execute(
                    f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608 - names from the model
                    f"FROM (VALUES {', '.join([row] * n)}) AS v WHERE t.{quote(pk.column)} = v.column1",
                    params,
                )
                updated += cursor.rowcount
        return updated
    values = [[v if v is None or not isinstance(f, models.JSONField) else json.loads(v) for v in c]
              for f, c in zip(fields, values, strict=True)]  # fmt: skip
    objs = [model(pk=p, **{f.attname: v for f, v in zip(fields, r, strict=True)})
            for p, *r in zip(pk_list, *values, strict=True)]  # fmt: skip
    return model.objects.bulk_update(objs, [f.name for f in fields], batch_size=batch_size)


def _insert_converter(field: models.Field) -> Callable[[Any], Any]:
    """How a value of `field` becomes a statement parameter, chosen once per field rather than once per value
    (numpy scalars made plain: sqlite3 cannot bind a numpy integer)."""
    if isinstance(field, models.ForeignKey):
        return _insert_converter(field.target_field)
    if isinstance(field, models.JSONField):
        encoder = field.encoder
        return lambda v: None if v is None else json.dumps(v, cls=encoder)  # what JSONField stores, as text
    for kind, plain in ((models.BooleanField, bool), (models.IntegerField, int), (models.FloatField, float),
                        (models.CharField, str), (models.TextField, str)):  # fmt: skip
        if isinstance(field, kind):
            return lambda v, plain=plain: None if v is None else plain(v)
    return lambda v: field.get_db_prep_save(v, connection)


def insert_rows(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]], *,
                batch_size: int = 2000) -> int:  # fmt: skip
    """Insert plain tuples, one value per attribute name of `fields`, with no model instance at all.

    For bulk writes nobody reads back by primary key (a dataset version's million rows): building a model
    instance per row cost ~70 µs of Python, and PostgreSQL parses a multi-row INSERT of JSON columns several
    times slower than it reads the same rows by COPY. So PostgreSQL takes them all by one `COPY ... FROM STDIN`
    in CSV, streamed: the rows are converted while the server stores the ones before (two processes, two
    cores). Every value is quoted and a nullable column reads the empty value as NULL, which is why no nullable
    text column may be passed (there "" is a value). Elsewhere: one `executemany` per `batch_size` rows. Values
    are converted once per field (`_insert_converter`: JSON dumped as `JSONField` would). No signals, no defaults
    filled in. Returns the number of rows inserted."""
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    converters = [_insert_converter(f) for f in columns]
    converted = ([None if v is None else conv(v) for conv, v in zip(converters, row, strict=True)] for row in rows)
    quote = connection.ops.quote_name
    names = ", ".join(quote(f.column) for f in columns)
    if connection.vendor == "postgresql":
        nullable = [f for f in columns if f.null]
        if any(isinstance(f, (models.CharField, models.TextField)) for f in nullable):
            raise ValueError("insert_rows cannot tell NULL from '' in a nullable text column")
        force_null = f", FORCE_NULL ({', '.join(quote(f.column) for f in nullable)})" if nullable else ""
        source = _CsvSource(converted, batch_size)
        with connection.cursor() as cursor:
            cursor.copy_expert(f"COPY {quote(meta.db_table)} ({names}) FROM STDIN WITH (FORMAT csv{force_null})",
                               source, size=1 << 20)  # fmt: skip
        return source.rows
    sql = f"INSERT INTO {quote(meta.db_table)} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
    inserted = 0
    with connection.cursor() as cursor:
        while batch := list(islice(converted, batch_size)):
            cursor.executemany(sql, batch)
            inserted += len(batch)
    return inserted


class _CsvSource:
    """A file psycopg2's copy_expert reads: CSV text, produced on demand, `batch` rows at a time."""

    def __init__(self, rows: Iterator[list[Any]], batch: int) -> None:
        self._rows, self._batch, self.rows = rows, batch, 0
        self._buf = io.StringIO()
        self._writer = csv.writer(self._buf, quoting=csv.QUOTE_ALL, lineterminator="\n")

    def read(self, size: int = -1) -> str:
        while size < 0 or self._buf.tell() < size:
            batch = list(islice(self._rows, self._batch))
            if not batch:
                break
            self._writer.writerows(batch)
            self.rows += len(batch)
        text = self._buf.getvalue()
        self._buf.seek(0)
        self._buf.truncate()
        return text
