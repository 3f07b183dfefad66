from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("labeling", "0012_webhooks")]

    operations = [
        migrations.AddField(
            model_name="item",
            name="version",
            field=models.PositiveBigIntegerField(db_default=0, default=0),
        ),
    ]
