"""Issue 25: exports deduplicated by a canonical options key with a database constraint.

Existing rows get their key from their stored options (the same canonical form as the request service); where
old rows already duplicate each other, every one but the newest keeps a key suffixed with its id, so the
constraint holds without deleting anything.
"""

import contextlib
import json

from django.db import migrations, models


def _key(fmt, options):
    options = dict(options or {})
    if "shard_mb" in options:
        with contextlib.suppress(TypeError, ValueError):
            options["shard_mb"] = float(f"{float(options['shard_mb']):.2g}")
    return fmt + ":" + json.dumps(options, sort_keys=True, separators=(",", ":"))


def fill_keys(apps, schema_editor):
    DatasetExport = apps.get_model("labeling", "DatasetExport")
    seen = set()
    for export in DatasetExport.objects.order_by("-id").only("id", "version_id", "format", "options", "status"):
        key = _key(export.format, export.options)[:180]
        live = export.status in ("queued", "running", "done")
        if live and (export.version_id, export.format, key) in seen:
            key = f"{key}#legacy-{export.id}"
        elif live:
            seen.add((export.version_id, export.format, key))
        DatasetExport.objects.filter(pk=export.pk).update(options_key=key)


class Migration(migrations.Migration):
    dependencies = [("labeling", "0012_webhooks")]

    operations = [
        migrations.AddField(
            model_name="datasetexport",
            name="options_key",
            field=models.CharField(
                blank=True,
                help_text="The canonical options (sorted JSON): one live export each.",
                max_length=200,
                null=True,
            ),
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="datasetexport",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", ["queued", "running", "done"])),
                fields=("version", "format", "options_key"),
                name="dataset_export_one_live_per_options",
            ),
        ),
    ]
