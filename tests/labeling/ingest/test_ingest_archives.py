"""Archive sources: traversal, bombs and links are refused per member; good members still land."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from labeling.models import IngestBatch, IngestEntry
from labeling.services.ingestion import batch_create, batch_run
from tests.helpers.images import jpeg_bytes

pytestmark = pytest.mark.django_db


def _run_archive(project, path):
    batch = batch_create(project=project, kind=IngestBatch.Kind.ARCHIVE, source=str(path))
    return batch_run(batch_id=batch.id)


def _verdicts(batch) -> dict[str, tuple[str, str]]:
    return {e.key: (e.status, e.reason_code) for e in batch.entries.all()}


def test_zip_with_dotdot_entries_is_not_extracted(project, tmp_path):
    path = tmp_path / "trav.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("../../evil.jpg", jpeg_bytes(seed=1))
        zf.writestr("heron/ok.jpg", jpeg_bytes(seed=2))
    batch = _run_archive(project, path)
    verdicts = _verdicts(batch)
    assert verdicts["../../evil.jpg"] == (IngestEntry.Status.REJECTED, "unsafe_path")
    assert verdicts["heron/ok.jpg"] == (IngestEntry.Status.INGESTED, "")
    assert not (tmp_path.parent / "evil.jpg").exists()


def test_zip_bomb_member_is_refused_without_expanding_it(project, tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("heron/bomb.jpg", b"\0" * (100 * 1024 * 1024))
        zf.writestr("heron/ok.jpg", jpeg_bytes(seed=3))
    assert path.stat().st_size < 1024 * 1024
    batch = _run_archive(project, path)
    verdicts = _verdicts(batch)
    assert verdicts["heron/bomb.jpg"] == (IngestEntry.Status.REJECTED, "archive_bomb")
    assert verdicts["heron/ok.jpg"][0] == IngestEntry.Status.INGESTED
    assert "ratio" in batch.entries.get(key="heron/bomb.jpg").message


def test_zip_with_too_many_entries_fails_the_batch(project, tmp_path, settings):
    settings.ANNOTATE = {**settings.ANNOTATE, "ARCHIVE_MAX_ENTRIES": 10}
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(11):
            zf.writestr(f"heron/{i}.txt", b"x")
    batch = _run_archive(project, path)
    assert batch.status == IngestBatch.Status.FAILED
    assert "archive_too_many_entries" in batch.error


def test_tar_with_a_symlink_is_not_followed(project, tmp_path):
    path = tmp_path / "links.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        link = tarfile.TarInfo("heron/passwd.jpg")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
        hard = tarfile.TarInfo("heron/hard.jpg")
        hard.type, hard.linkname = tarfile.LNKTYPE, "heron/passwd.jpg"
        tf.addfile(hard)
        data = jpeg_bytes(seed=4)
        info = tarfile.TarInfo("heron/real.jpg")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    batch = _run_archive(project, path)
    verdicts = _verdicts(batch)
    assert verdicts["heron/passwd.jpg"] == (IngestEntry.Status.REJECTED, "symlink")
    assert verdicts["heron/hard.jpg"] == (IngestEntry.Status.REJECTED, "symlink")
    assert verdicts["heron/real.jpg"][0] == IngestEntry.Status.INGESTED
    assert batch.status == IngestBatch.Status.DONE


def test_a_file_that_is_no_archive_fails_with_a_clear_error(project, tmp_path):
    path = tmp_path / "fake.zip"
    path.write_bytes(b"this is not an archive")
    batch = _run_archive(project, path)
    assert batch.status == IngestBatch.Status.FAILED
    assert batch.error.startswith("archive_unreadable")
