"""Volunteer preferences."""

from __future__ import annotations

from labeling.models import VolunteerProfile


def volunteer_profile_update(*, user, show_on_leaderboard: bool) -> VolunteerProfile:
    profile, _ = VolunteerProfile.objects.update_or_create(
        user=user, defaults={"show_on_leaderboard": bool(show_on_leaderboard)}
    )
    return profile
