"""Database faults injected inside PostgreSQL itself: a trigger that raises on chosen rows.

No code of ours is patched: the statement fails in the server, as a constraint, a full disk or a bug in
a migration would make it fail, and the code under test sees the driver's real exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def trigger_fault(*, table: str, when: str, event: str = "INSERT", message: str = "injected fault") -> Iterator[None]:
    """Every `event` on `table` whose row matches `when` (SQL over NEW) fails with `message`."""
    name = f"fault_{table}"[:60]
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{message}'; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION {name}()"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            cursor.execute(f"DROP FUNCTION IF EXISTS {name}()")
