"""Database helpers shared by the apps."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from itertools import islice
from typing import Any

from django.db import connection, models
from django.db.models import Func, Lookup


def bulk_update_values(model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str], *,
                       batch_size: int = 2000) -> int:  # fmt: skip
    """Like `Model.objects.bulk_update(objs, fields)`, as one `UPDATE ... FROM (VALUES ...)` per batch.

    Django's bulk_update writes one `CASE WHEN id = ... THEN ...` per field and row; for thousands of rows
    building that expression costs seconds of Python (a 5,000-item re-aggregation spent 62 of its 65 s there on
    SQLite) and the server plans a huge CASE. A VALUES list does the same update in one flat statement, on
    PostgreSQL with a cast per column, on SQLite (3.33+: UPDATE ... FROM) with its columns column1, column2, ...
    Like bulk_update, no signals and no auto_now. Returns the number of rows updated.
    """
    if not objs:
        return 0
    postgres = connection.vendor == "postgresql"
    if not postgres and not (connection.vendor == "sqlite" and _sqlite_update_from()):
        return model.objects.bulk_update(objs, list(fields), batch_size=batch_size)
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    if postgres:
        row = ", ".join(f"%s::{_value_type(field)}" for field in [pk, *columns])
        assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns)
        aliases = "(" + ", ".join(quote(f.column) for f in [pk, *columns]) + ")"
        key = f"v.{quote(pk.column)}"
    else:  # SQLite: no casts (its CAST to a declared type would turn a datetime text into a number)
        row = ", ".join(["%s"] * (1 + len(columns)))
        assignments = ", ".join(f"{quote(f.column)} = v.column{n}" for n, f in enumerate(columns, start=2))
        aliases = ""
        key = "v.column1"
        batch_size = min(batch_size, SQLITE_MAX_VARIABLES // (1 + len(columns)))
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch_size):
            chunk = objs[start : start + batch_size]
            params: list[object] = []
            for obj in chunk:
                params.append(pk.get_db_prep_value(obj.pk, connection))
                params.extend(field.get_db_prep_save(getattr(obj, field.attname), connection) for field in columns)
            sql = (
                f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608 - names from the model
                f"FROM (VALUES {', '.join([f'({row})'] * len(chunk))}) AS v{aliases} "
                f"WHERE t.{quote(pk.column)} = {key}"
            )
            cursor.execute(sql, params)
            updated += cursor.rowcount
    return updated


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


SQLITE_MAX_VARIABLES = 32_766  # SQLite >= 3.32's default SQLITE_MAX_VARIABLE_NUMBER


def _sqlite_update_from() -> bool:
    import sqlite3

    return sqlite3.sqlite_version_info >= (3, 33, 0)


def bulk_insert_returning(model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str],
                          returning: str) -> list[tuple]:  # fmt: skip
    """`INSERT … VALUES … ON CONFLICT DO NOTHING RETURNING pk, <returning>` in one statement (PostgreSQL).

    A row that would break a unique constraint is skipped and not returned, so the caller sees exactly which
    rows went in (by `returning`, a unique field) without a savepoint per row. Like bulk_create, no signals;
    set auto_now_add fields yourself. SQLite >= 3.35 has the same statement (ON CONFLICT … RETURNING), so both
    vendors issue the same single statement (hot-path query counts are the same on both); an older SQLite or
    another vendor falls back to one savepointed insert per row (SAVEPOINT + INSERT + RELEASE each).
    """
    if not objs:
        return []
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    key = meta.get_field(returning)
    one_statement = connection.vendor == "postgresql" or (
        connection.vendor == "sqlite" and connection.features.can_return_rows_from_bulk_insert
    )
    if not one_statement:
        from django.db import IntegrityError, transaction

        rows = []
        for obj in objs:
            try:
                with transaction.atomic():
                    obj.save(force_insert=True)
            except IntegrityError:
                continue
            rows.append((obj.pk, getattr(obj, key.attname)))
        return rows
    quote = connection.ops.quote_name
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    params: list[object] = []
    for obj in objs:
        params.extend(field.get_db_prep_save(getattr(obj, field.attname), connection) for field in columns)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in columns)}) "  # noqa: S608
        f"VALUES {', '.join([placeholders] * len(objs))} ON CONFLICT DO NOTHING "
        f"RETURNING {quote(meta.pk.column)}, {quote(key.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(pk, key.to_python(value)) for pk, value in cursor.fetchall()]


def _value_type(field: models.Field) -> str:
    """The VALUES column type: the column's own, except text for varchar(n), because an explicit cast to
    varchar(n) silently truncates, while assigning text to the column refuses an over-long value."""
    db_type = field.db_type(connection) or "text"
    return "text" if db_type.startswith("varchar") else db_type


@contextmanager
def run_lock(kind: int, object_id: int) -> Iterator[bool]:
    """A PostgreSQL session advisory lock `(kind, object_id)`: one runner per object (an ingest batch, an
    export). It dies with the runner's connection, so a killed worker never blocks a resume, and a free
    lock on an object marked running means its runner is gone. Yields whether it was acquired; elsewhere
    than PostgreSQL it always is (no session locks: broker redelivery is the only resume path there)."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [kind, object_id])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [kind, object_id])


class IdList(tuple):
    """Distinct integer ids, sorted, with their text for AnyOf computed once: one offer passes the same list to
    several statements."""

    def __new__(cls, ids) -> IdList:
        return super().__new__(cls, sorted({int(i) for i in ids}))

    @cached_property
    def csv(self) -> str:
        return ",".join(map(str, self))


class AnyOf(Lookup):
    """`pk__any_of=ids`: membership in a long list of integers, passed as ONE parameter.

    `pk__in` sends one parameter per value: for the thousands of ids of an `only_ids` offer, Django spends
    milliseconds preparing them one by one and PostgreSQL as long parsing and planning the literal list, in
    every statement that carries it. Here the list travels as one array text (`= ANY('{…}'::bigint[])`, parsed
    by array_in in one go) on PostgreSQL and as one JSON text (`IN (SELECT value FROM json_each(…))`) on SQLite.
    Registered on IntegerField (so on every integer primary key) by AnnotateConfig.ready."""

    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self):
        return self.rhs if isinstance(self.rhs, IdList) else IdList(self.rhs)

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = self.rhs.csv
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::bigint[])", [*lhs_params, "{" + values + "}"]
        return f"{lhs} IN (SELECT value FROM json_each(%s))", [*lhs_params, "[" + values + "]"]  # noqa: S608 - a placeholder


class UriFileName(Func):
    """The last path segment of a URI or relative path (after the last '/' or '\\'), without ?query or #fragment.

    PostgreSQL: two `regexp_replace`s. SQLite has no regexp_replace (gold import crashed there with "no such
    function"): the same with INSTR/SUBSTR and the RTRIM trick (RTRIM(x, <every character of x but '/'>) leaves
    x up to its last '/'). Other vendors take the SQLite form (plain SQL-92 string functions plus INSTR)."""

    arity = 1
    output_field = models.TextField()

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return (f"regexp_replace(regexp_replace({sql}, %s, ''), %s, '')", [*params, r"[?#].*$", r"^.*[/\\]"])

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        if params:  # a column is expected; an expression with parameters is wrapped once in a sub-select
            raise ValueError("UriFileName takes a column")
        x = f"REPLACE({sql}, CHAR(92), '/')"
        for stop in ("?", "#"):
            x = f"(CASE WHEN INSTR({x}, '{stop}') > 0 THEN SUBSTR({x}, 1, INSTR({x}, '{stop}') - 1) ELSE {x} END)"
        return f"SUBSTR({x}, LENGTH(RTRIM({x}, REPLACE({x}, '/', ''))) + 1)", []
