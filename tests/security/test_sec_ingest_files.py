"""Issue 25, one bounded reader: the files ingestion reads (URL lists, archives), the categories text of the project
form and the files named to the import commands go through annotate.bounded too, within a size, an entry count
and a field length."""

from __future__ import annotations

import io

import pytest

from labeling.models import IngestBatch, IngestEntry
from labeling.services.ingestion import batch_create, batch_run
from labeling.services.ingestion.sources import MAX_URL_CHARS


def _run_url_list(world, tmp_path, text: str) -> IngestBatch:
    path = tmp_path / "urls.csv"
    path.write_text(text, encoding="utf-8")
    batch = batch_create(project=world.a.project, kind=IngestBatch.Kind.URLS, source=str(path))
    return batch_run(batch_id=batch.id)


def _verdicts(batch: IngestBatch) -> dict[str, str]:
    return dict(batch.entries.values_list("key", "reason_code"))


def test_a_csv_url_list_field_past_the_csv_limit_is_one_rejected_line(world, tmp_path):
    """csv's own 131,072-character field limit raised csv.Error out of the listing: the whole batch failed
    (internal_error) and the good lines were never read."""
    huge = "http://example.org/" + "x" * 200_000
    text = f'url,category\nftp://example.org/a.jpg,heron\n"{huge}",heron\nftp://example.org/b.jpg,heron\n'
    batch = _run_url_list(world, tmp_path, text)
    assert batch.status == IngestBatch.Status.DONE, batch.error
    verdicts = _verdicts(batch)
    assert verdicts == {"ftp://example.org/a.jpg\theron": "unsupported_scheme", "#line 3": "invalid_entry",
                        "ftp://example.org/b.jpg\theron": "unsupported_scheme"}  # fmt: skip
    assert "longer than" in batch.entries.get(key="#line 3").message
    assert batch.entries.filter(status=IngestEntry.Status.REJECTED).count() == 3


def test_an_over_long_url_line_is_refused_by_the_reader_not_fetched(world, tmp_path):
    long_url = "ftp://example.org/" + "y" * MAX_URL_CHARS
    batch = _run_url_list(world, tmp_path, f"# a comment, with a comma\n\nftp://example.org/c.jpg\n{long_url}\n")
    assert batch.status == IngestBatch.Status.DONE, batch.error
    assert _verdicts(batch) == {"ftp://example.org/c.jpg": "unsupported_scheme", "#line 4": "invalid_entry"}


def test_a_url_list_with_more_entries_than_the_cap_fails_before_listing_any(world, tmp_path, settings):
    settings.ANNOTATE = {**settings.ANNOTATE, "ARCHIVE_MAX_ENTRIES": 3}
    batch = _run_url_list(world, tmp_path, "".join(f"ftp://example.org/{i}.jpg\n" for i in range(4)))
    assert batch.status == IngestBatch.Status.FAILED
    assert batch.error.startswith("url_list_too_many_entries") and "3" in batch.error
    assert batch.entries.count() == 0
    assert _run_url_list(world, tmp_path, "ftp://example.org/1.jpg\n" * 3).status == IngestBatch.Status.DONE


@pytest.mark.parametrize("text", ['url,category\n"unterminated,heron\n', "url\n\x00\n", "\ufeff,\n", ",,,,,,\n"])
def test_odd_url_lists_end_the_batch_cleanly(world, tmp_path, text):
    batch = _run_url_list(world, tmp_path, text)
    assert batch.status == IngestBatch.Status.DONE, batch.error


def test_a_zip_declaring_more_entries_than_the_cap_is_refused_before_they_are_listed(tmp_path, settings):
    """zipfile.ZipFile builds one ZipInfo per central-directory entry before anything was counted: a 2 GB
    upload of empty members made a worker hold tens of millions of them. The declared count is read first."""
    import tracemalloc
    import zipfile

    from labeling.services.ingestion.sources import SourceError, source_open

    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for i in range(40_000):
            zf.writestr(f"heron/{i:05d}.png", b"")
    settings.ANNOTATE = {**settings.ANNOTATE, "ARCHIVE_MAX_ENTRIES": 100}
    tracemalloc.start()
    try:
        with source_open("archive", str(path)) as source, pytest.raises(SourceError) as info:
            next(source.entries())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.code == "archive_too_many_entries"
    assert peak < 2 * 1024 * 1024, f"{peak / 1e6:.1f} MB held while refusing the archive"


# --- the categories text (project form, create_project) and files named on a command line ------------------------

BIG_FIELD = "x" * 140_000  # over csv's own 131,072 limit: csv.Error escaped the form as a 500


def test_a_categories_text_with_a_huge_field_is_a_form_error(world, client_as):
    from labeling.models import Project

    form = {"name": "P", "slug": "p-new", "task_type": "classify", "min_votes": 3, "gold_rate": 0.1,
            "visibility": "invite", "categories": f"name,definition\nheron,{BIG_FIELD}\negret,a bird\n"}  # fmt: skip
    response = client_as("researcher").post("/projects/new/", form)
    assert response.status_code == 200 and "cannot be read" in response.content.decode()
    assert not Project.objects.filter(slug="p-new").exists()
    form["categories"] = "name,definition\n\n# birds\nheron,a bird\negret,\n"
    assert client_as("researcher").post("/projects/new/", form).status_code == 302
    assert sorted(Project.objects.get(slug="p-new").categories.values_list("name", flat=True)) == ["egret", "heron"]


def test_create_project_refuses_a_categories_file_it_cannot_read(world, tmp_path):
    from django.core.management import CommandError, call_command

    path = tmp_path / "cats.csv"
    path.write_text(f"name,definition\nheron,{BIG_FIELD}\n")
    with pytest.raises(CommandError, match="Line 2"):
        call_command(
            "create_project",
            "p-cli",
            "--type",
            "classify",
            "--categories",
            str(path),
            "--owner",
            "res",
            stdout=io.StringIO(),
        )


@pytest.mark.parametrize("command", ["import_gold", "import_categories"])
def test_import_commands_read_a_named_file_with_a_cap(world, tmp_path, command):
    """`path.read_bytes()` read the whole file before the service's 5 MB limit refused it: a 50 MB file held
    50 MB (and /dev/zero never ended)."""
    import tracemalloc

    from django.core.management import CommandError, call_command

    path = tmp_path / "huge.csv"
    with open(path, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # sparse: no disk used
    tracemalloc.start()
    try:
        with pytest.raises(CommandError, match="larger than"):
            call_command(command, str(path), "--project", "proj-a", stdout=io.StringIO(), stderr=io.StringIO())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 12 * 1024 * 1024, f"{peak / 1e6:.0f} MB held while refusing a 50 MB file"
