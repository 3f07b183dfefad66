"""The worker's local image cache (training/services/image_cache.py) against a real S3 API (moto's server)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from training.services.image_cache import cache_dir, cache_trim, local_image_paths

pytestmark = pytest.mark.django_db


def _store(n: int, size: int) -> dict[int, str]:
    return {i: default_storage.save(f"images/t{i:02d}/{i}.bin", ContentFile(bytes([i]) * size)) for i in range(n)}


def test_s3_images_are_fetched_once_into_the_var_dir(s3_bucket, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    files = _store(3, 1000)
    with local_image_paths(files) as paths:
        assert all(Path(p).read_bytes() == bytes([i]) * 1000 for i, p in paths.items())
        assert all(cache_dir() in Path(p).parents for p in paths.values())
    first = {i: Path(p).stat().st_mtime_ns for i, p in paths.items()}
    default_storage.delete(files[0])  # a second read must come from the cache, not the bucket
    with local_image_paths(files) as again:
        assert Path(again[0]).read_bytes() == bytes([0]) * 1000
    assert again == paths and all(Path(p).stat().st_mtime_ns >= first[i] for i, p in again.items())


def test_the_cache_keeps_to_its_limit_dropping_the_least_recently_used(tmp_path):
    for i in range(5):
        path = tmp_path / f"{i}.bin"
        path.write_bytes(b"x" * 100)
        os.utime(path, (1000 + i, 1000 + i))
    freed = cache_trim(tmp_path, 250, keep={str(tmp_path / "0.bin")})
    assert freed == 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.bin", "4.bin"]  # 0 is in use: kept; 200 <= 250


def test_local_disk_is_read_in_place(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    files = _store(1, 10)
    with local_image_paths(files) as paths:
        assert paths[0] == default_storage.path(files[0])
    assert not (tmp_path / "var" / "cache").exists()


def test_without_a_cache_the_files_are_dropped_after_use(s3_bucket, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.ANNOTATE = {**settings.ANNOTATE, "WORKER_IMAGE_CACHE_MB": 0}
    with local_image_paths(_store(2, 10)) as paths:
        assert all(Path(p).is_file() for p in paths.values())
    assert not any(Path(p).exists() for p in paths.values()) and not cache_dir().exists()
