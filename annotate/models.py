"""Core models that belong to no labeling or training domain."""

from django.db import models


class TaskProbe(models.Model):
    """Written by the `default.probe` Celery task: proves a round trip through broker and worker."""

    token = models.CharField(max_length=64, unique=True)
    worker_hostname = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.token
