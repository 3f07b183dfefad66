"""Backup and restore (annotate/backup.md): a dump and a media manifest; restored into another database, the
project's export is byte-identical; a manifest that storage does not match fails the restore, naming each file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from labeling.services.datasets import dataset_version_create
from tests.helpers import workers
from tests.labeling.datasets import factories as f

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _manage(*args: str, database_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "annotate.settings.test",
           "MEDIA_ROOT": str(settings.MEDIA_ROOT), "ANNOTATE_VAR_DIR": str(settings.VAR_DIR)}  # fmt: skip
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


@pytest.fixture
def restore_target(transactional_db, tmp_path):
    """The URL of an empty database beside the test database (dropped afterwards)."""
    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    name = f"{connection.settings_dict['NAME']}_restore_{uuid.uuid4().hex[:6]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    url = workers.test_database_url().rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_restore_brings_back_a_project_whose_export_is_byte_identical(restore_target, make_user, tmp_path):
    project = f.project(make_user("rita", role="researcher"), slug="kept", classes=("owl", "cat"))
    f.classify_images(project, [make_user(f"vol{i}") for i in range(3)], {"owl": 4, "cat": 3})
    version = dataset_version_create(project=project)
    assert version.rows.count() == 7

    backup = tmp_path / "backup"
    call_command("backup", out=str(backup))
    manifest = json.loads((backup / "media-manifest.json").read_text())
    names = {entry["name"] for entry in manifest["files"]}
    assert len(names) == 7 and all(name.startswith("images/") for name in names)
    # The export is made after the backup: the restored database has no export row and must build it anew.
    original = tmp_path / "original.tar"
    call_command("export", version_id=version.pk, format="imagefolder", out=str(original))

    result = _manage("restore", "--from", str(backup), "--yes", "--json", database_url=restore_target)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {"checked": 7, "missing": [], "changed": []}

    again = tmp_path / "restored.tar"
    result = _manage("export", "--version", str(version.pk), "--format", "imagefolder", "--out", str(again),
                     database_url=restore_target)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert again.read_bytes() == original.read_bytes()

    # Storage that no longer matches the manifest fails the restore and names each file.
    broken = tmp_path / "broken"
    shutil.copytree(backup, broken)
    manifest["files"][0]["sha256"] = "0" * 64
    manifest["files"].append({"name": "images/gone.jpg", "size": 1, "sha256": "1" * 64})
    (broken / "media-manifest.json").write_text(json.dumps(manifest))
    result = _manage("restore", "--from", str(broken), "--yes", database_url=restore_target)
    assert result.returncode != 0
    assert f"changed: {manifest['files'][0]['name']}" in result.stderr and "missing: images/gone.jpg" in result.stderr


def test_restore_needs_confirmation_and_a_backup_folder(db, tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--yes"):
        call_command("restore", source=str(tmp_path))
    with pytest.raises(CommandError, match=r"holds no database\.dump"):
        call_command("restore", source=str(tmp_path), yes=True)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(CommandError, match="not empty"):
        call_command("backup", out=str(tmp_path / "full"))
