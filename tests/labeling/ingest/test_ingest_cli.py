"""The stable CLI contract of `manage.py ingest` and `manage.py import_categories`."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, ManagementUtility, call_command

from labeling.models import Category, Item, Project
from tests.helpers.images import jpeg_bytes

pytestmark = pytest.mark.django_db


def _ingest(*args: str) -> tuple[dict, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("ingest", *args, "--json", stdout=out, stderr=err)
    return json.loads(out.getvalue().strip().splitlines()[-1]), err.getvalue()


def test_ingest_json_contract_and_rerun(tmp_path):
    for i in range(3):
        (tmp_path / "crawl" / "heron").mkdir(parents=True, exist_ok=True)
        (tmp_path / "crawl" / "heron" / f"{i}.jpg").write_bytes(jpeg_bytes(seed=60 + i))
    (tmp_path / "crawl" / "heron" / "bad.jpg").write_bytes(b"<html></html>")
    report, err = _ingest(str(tmp_path / "crawl"), "--project", "newproj", "--create-project")
    assert set(report) == {"batch", "ingested", "duplicates", "near_duplicates", "rejected", "rejections"}
    assert (report["ingested"], report["rejected"], report["rejections"]) == (3, 1, {"not_an_image": 1})
    assert "batch" in err  # the tqdm bar goes to stderr
    project = Project.objects.get(slug="newproj")
    assert project.task_type == "verify" and Item.objects.filter(project=project).count() == 3
    again, _ = _ingest(str(tmp_path / "crawl"), "--project", "newproj")
    assert (again["ingested"], again["duplicates"]) == (0, 3) and again["batch"] != report["batch"]


def test_top_level_files_take_the_category_option(tmp_path, project):
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes(seed=65))
    report, _ = _ingest(str(tmp_path), "--project", project.slug, "--category", "egret")
    assert report["ingested"] == 1
    assert project.image_sources.get().candidate_category.name == "egret"


def test_unknown_project_without_create_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="--create-project"):
        call_command("ingest", str(tmp_path), "--project", "nope", stdout=io.StringIO())


def test_import_categories_csv(tmp_path, project):
    path = tmp_path / "cats.csv"
    path.write_text("name,definition,wnid,parent\nwading bird,long legs,n02000954,\nheron,grey,n02009912,wading bird\n")
    out = io.StringIO()
    call_command("import_categories", str(path), "--project", project.slug, stdout=out)
    heron = Category.objects.get(project=project, name="heron")
    assert (heron.definition, heron.wnid, heron.parent.name) == ("grey", "n02009912", "wading bird")
    assert "1 created, 1 updated" in out.getvalue()


def test_command_line_exit_codes_and_last_line(tmp_path, capsys):
    """Through ManagementUtility, as `manage.py` runs it: exit status 0 with rejections, 1 when it cannot run."""
    (tmp_path / "heron").mkdir()
    (tmp_path / "heron" / "a.jpg").write_bytes(jpeg_bytes(seed=66))
    (tmp_path / "heron" / "z.jpg").write_bytes(b"")
    ManagementUtility(
        ["manage.py", "ingest", str(tmp_path), "--project", "cli", "--create-project", "--json"]
    ).execute()
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["ingested"] == 1 and report["rejections"] == {"empty": 1}
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "ingest", str(tmp_path / "nope"), "--project", "cli", "--json"]).execute()
    assert exited.value.code == 1 and "does not exist" in capsys.readouterr().err
