"""Fixtures of the ingestion tests: a researcher's verify project and a one-call folder batch."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def researcher(make_user):
    return make_user("rita", role="researcher")


@pytest.fixture
def project(researcher):
    from labeling.services.projects import project_create

    return project_create(slug="birds", owner=researcher, categories=[{"name": "heron"}])


@pytest.fixture
def run_folder(tmp_path, project):
    """run_folder({"heron/a.jpg": bytes, ...}) -> the finished IngestBatch of that folder."""
    from labeling.models import IngestBatch
    from labeling.services.ingestion import batch_create, batch_run

    counter = {"n": 0}

    def run(files: dict[str, bytes], *, category: str | None = None, target=None):
        counter["n"] += 1
        root = tmp_path / f"src{counter['n']}"
        for name, data in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        root.mkdir(exist_ok=True)
        proj = target or project
        default = proj.categories.get_or_create(name=category)[0] if category else None
        batch = batch_create(project=proj, kind=IngestBatch.Kind.FOLDER, source=str(root), default_category=default)
        return batch_run(batch_id=batch.id)

    return run


def only_entry(batch):
    entries = list(batch.entries.all())
    assert len(entries) == 1, [(e.key, e.status) for e in entries]
    return entries[0]


def write_files(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root
