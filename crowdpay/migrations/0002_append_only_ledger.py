"""PostgreSQL: the earnings ledger is append-only (a trigger refuses UPDATE and DELETE of an entry).

SQLite (the demo) relies on the services, which only ever insert. TRUNCATE (a test's flush) is not a row event.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION crowdpay_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'crowdpay_earningsentry is append-only: UPDATE and DELETE are refused';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER crowdpay_ledger_append_only BEFORE UPDATE OR DELETE ON crowdpay_earningsentry
    FOR EACH ROW EXECUTE FUNCTION crowdpay_ledger_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS crowdpay_ledger_append_only ON crowdpay_earningsentry;
DROP FUNCTION IF EXISTS crowdpay_ledger_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("crowdpay", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
