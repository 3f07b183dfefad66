"""Database helpers shared by the apps."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property

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
