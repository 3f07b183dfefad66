from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0012_webhooks"),
    ]

    operations = [
        migrations.AddField(
            model_name="projectqualitysnapshot",
            name="model",
            field=models.CharField(blank=True, db_default="", default="", max_length=32),
        ),
        migrations.AddField(
            model_name="projectqualitysnapshot",
            name="model_reason",
            field=models.TextField(blank=True, db_default="", default=""),
        ),
        migrations.AddField(
            model_name="projectqualitysnapshot",
            name="model_evidence",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
