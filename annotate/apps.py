from django.apps import AppConfig


class AnnotateConfig(AppConfig):
    name = "annotate"
    verbose_name = "Annotate core"
    default_auto_field = "django.db.models.BigAutoField"
