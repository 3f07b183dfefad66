from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0009_item_queue_partial_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='project',
            name='box_mode',
            field=models.CharField(choices=[('single', 'One category per image (localisation)'), ('detect', 'A category per box (object detection)')], db_default='single', default='single', help_text='Box projects only: whether each box carries its own category. Set at creation.', max_length=8),
        ),
    ]
