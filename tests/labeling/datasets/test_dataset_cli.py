"""The CLI contract: dataset_create --json and export --json, run as real subprocesses."""

import json
import os
import subprocess
import sys
import tarfile

import pytest
from django.conf import settings

from tests.helpers import workers


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": workers.test_database_url(),
        "DJANGO_SETTINGS_MODULE": "annotate.settings.test",
        "ANNOTATE_VAR_DIR": str(settings.VAR_DIR),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }


def manage_all(*calls, check=True) -> list[subprocess.CompletedProcess]:
    """Each call (a tuple of `manage.py` arguments) in its own process, all started at once: independent commands
    need not wait for each other's ~2 s of start-up (Django, NumPy, SciPy imports). Results in call order."""
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=workers.REPO_ROOT,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in calls
    ]
    done = []
    for args, proc in zip(calls, procs, strict=True):
        try:
            stdout, stderr = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        if check:
            assert result.returncode == 0, (args, stderr)
        done.append(result)
    return done


def manage(*args, check=True) -> subprocess.CompletedProcess:
    return manage_all(args, check=check)[0]


@pytest.mark.django_db(transaction=True)
def test_dataset_create_and_export_cli(classify_project, tmp_path):
    create = ("dataset_create", "--project", "pets", "--min-posterior", "0.5", "--split", "0.6,0.2,0.2", "--seed", "7",
              "--json")  # fmt: skip
    summary = json.loads(manage(*create).stdout.strip().splitlines()[-1])
    assert set(summary) == {"version", "items", "classes", "hash"}
    assert summary["items"] == 24 and summary["classes"] == 3 and len(summary["hash"]) == 64
    again = json.loads(manage(*create).stdout.strip().splitlines()[-1])
    assert again["hash"] == summary["hash"] and again["version"] != summary["version"]

    out = tmp_path / "pets.tar"
    vid = str(summary["version"])
    # The two exports of the version are independent: started together.
    tar_proc, csv_proc = manage_all(
        ("export", "--version", vid, "--format", "imagefolder", "--out", str(out), "--json"),
        ("export", "--version", vid, "--format", "csv", "--out", str(tmp_path), "--json"),
    )
    result = json.loads(tar_proc.stdout.strip().splitlines()[-1])
    assert result["path"] == str(out) and result["bytes"] == out.stat().st_size and result["items"] == 24
    assert result["format"] == "imagefolder" and isinstance(result["export"], int)
    with tarfile.open(out) as tar:
        assert sum(1 for n in tar.getnames() if n.endswith(".jpg")) == 24

    result = json.loads(csv_proc.stdout.strip().splitlines()[-1])
    assert result["path"].endswith("pets-v1-csv.csv") and result["items"] == 24


@pytest.mark.django_db(transaction=True)
def test_cli_errors_are_clear(classify_project, tmp_path):
    split, project, version, fmt = manage_all(
        ("dataset_create", "--project", "pets", "--split", "0.9,0.9,0.1", "--json"),
        ("dataset_create", "--project", "nope", "--json"),
        ("export", "--version", "999999", "--format", "csv", "--out", str(tmp_path / "x")),
        ("export", "--version", "1", "--format", "zip", "--out", str(tmp_path / "x")),
        check=False,
    )
    assert split.returncode != 0 and "sum to 1" in split.stderr
    assert project.returncode != 0 and "No project" in project.stderr
    assert version.returncode != 0 and "No dataset version" in version.stderr
    assert fmt.returncode != 0 and "invalid choice" in fmt.stderr
