from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0010_min_votes_zero_lets_a_proven_model_finish'),
    ]

    operations = [
        migrations.AddField(
            model_name='project',
            name='box_mode',
            field=models.CharField(choices=[('single', 'One category per image (localisation)'), ('detect', 'A category per box (object detection)')], db_default='single', default='single', help_text='Box projects only: whether each box carries its own category. Set at creation.', max_length=8),
        ),
    ]
