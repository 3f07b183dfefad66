"""Per-volunteer preferences (the leaderboard opt-out)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class VolunteerProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="volunteer_profile")
    show_on_leaderboard = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"profile of {self.user_id}"
