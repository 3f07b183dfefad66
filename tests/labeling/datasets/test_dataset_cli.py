"""The CLI contract: dataset_create --json and export --json, run as real subprocesses."""

import json
import os
import subprocess
import sys
import tarfile

import pytest
from django.conf import settings

from tests.helpers import workers


def manage(*args, check=True):
    env = {
        **os.environ,
        "DATABASE_URL": workers.test_database_url(),
        "DJANGO_SETTINGS_MODULE": "annotate.settings.test",
        "ANNOTATE_VAR_DIR": str(settings.VAR_DIR),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    proc = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=workers.REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.django_db(transaction=True)
def test_dataset_create_and_export_cli(classify_project, tmp_path):
    proc = manage(
        "dataset_create",
        "--project",
        "pets",
        "--min-posterior",
        "0.5",
        "--split",
        "0.6,0.2,0.2",
        "--seed",
        "7",
        "--json",
    )
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(summary) == {"version", "items", "classes", "hash"}
    assert summary["items"] == 24 and summary["classes"] == 3 and len(summary["hash"]) == 64
    again = json.loads(
        manage(
            "dataset_create",
            "--project",
            "pets",
            "--min-posterior",
            "0.5",
            "--split",
            "0.6,0.2,0.2",
            "--seed",
            "7",
            "--json",
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    assert again["hash"] == summary["hash"] and again["version"] != summary["version"]

    out = tmp_path / "pets.tar"
    vid = str(summary["version"])
    proc = manage("export", "--version", vid, "--format", "imagefolder", "--out", str(out), "--json")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["path"] == str(out) and result["bytes"] == out.stat().st_size and result["items"] == 24
    assert result["format"] == "imagefolder" and isinstance(result["export"], int)
    with tarfile.open(out) as tar:
        assert sum(1 for n in tar.getnames() if n.endswith(".jpg")) == 24

    proc = manage("export", "--version", str(summary["version"]), "--format", "csv", "--out", str(tmp_path), "--json")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["path"].endswith("pets-v1-csv.csv") and result["items"] == 24


@pytest.mark.django_db(transaction=True)
def test_cli_errors_are_clear(classify_project, tmp_path):
    bad = manage("dataset_create", "--project", "pets", "--split", "0.9,0.9,0.1", "--json", check=False)
    assert bad.returncode != 0 and "sum to 1" in bad.stderr
    bad = manage("dataset_create", "--project", "nope", "--json", check=False)
    assert bad.returncode != 0 and "No project" in bad.stderr
    bad = manage("export", "--version", "999999", "--format", "csv", "--out", str(tmp_path / "x"), check=False)
    assert bad.returncode != 0 and "No dataset version" in bad.stderr
    bad = manage("export", "--version", "1", "--format", "zip", "--out", str(tmp_path / "x"), check=False)
    assert bad.returncode != 0 and "invalid choice" in bad.stderr
