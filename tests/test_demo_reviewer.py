"""The demo's reviewer reviews the demo projects right after seeding (and after re-seeding an older demo)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from labeling.models import Project

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_seed_makes_the_reviewer_a_reviewer(tmp_path, settings, client):
    settings.VAR_DIR = tmp_path
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("demo", "--seed-only", "--per-class", "1", "--no-train")
    projects = Project.objects.filter(slug__in=["demo-verify", "demo-classify", "demo-boxes"])
    assert projects.count() == 3
    for project in projects:
        assert list(project.reviewers.values_list("username", flat=True)) == ["reviewer"]
        assert list(project.owners.values_list("username", flat=True)) == ["researcher"]
    Project.objects.get(slug="demo-verify").reviewers.clear()  # an older demo, seeded before the fix
    call_command("demo", "--seed-only", "--per-class", "1", "--no-train")
    assert Project.objects.get(slug="demo-verify").reviewers.filter(username="reviewer").exists()
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="reviewer"))
    assert client.get("/projects/demo-verify/review/").status_code == 200
    assert client.get("/projects/demo-classify/items/").status_code == 200
