"""Exact duplicates (SHA-256), near-duplicates (pHash index), idempotent re-runs, items for labelling."""

from __future__ import annotations

import pytest

from labeling.models import Image, ImageSource, IngestEntry, Item
from tests.helpers.images import encode, jpeg_bytes, make_image, png_bytes

pytestmark = pytest.mark.django_db


def test_exact_duplicate_bytes_are_stored_once(run_folder):
    data = jpeg_bytes(120, 90, seed=31)
    batch = run_folder({"heron/a.jpg": data, "heron/copy-of-a.jpg": data})
    assert (batch.ingested, batch.duplicates) == (1, 1)
    assert Image.objects.count() == 1
    dup = batch.entries.get(status=IngestEntry.Status.DUPLICATE)
    assert dup.image == Image.objects.get() and "Same bytes" in dup.message


def test_resized_reencoded_copy_is_a_near_duplicate_linked_to_its_canonical(run_folder, project):
    original = make_image(400, 300, seed=32)
    batch = run_folder(
        {
            "heron/original.jpg": encode(original, "JPEG", quality=92),
            "heron/small.jpg": encode(original.resize((200, 150)), "JPEG", quality=60),
            "heron/other.png": png_bytes(400, 300, seed=33),
        }
    )
    assert (batch.ingested, batch.near_duplicates) == (2, 1), list(batch.entries.values("key", "status", "message"))
    near = batch.entries.get(key="heron/small.jpg")
    canonical = batch.entries.get(key="heron/original.jpg").image
    assert near.status == IngestEntry.Status.NEAR_DUPLICATE
    assert near.image.canonical == canonical and "pHash distance" in near.message
    assert batch.entries.get(key="heron/other.png").image.canonical is None
    # The cluster is labelled once: no item for the near-duplicate.
    assert set(Item.objects.filter(project=project).values_list("image_id", flat=True)) == {
        canonical.id,
        batch.entries.get(key="heron/other.png").image_id,
    }


def test_near_duplicate_found_against_an_earlier_batch(run_folder):
    original = make_image(300, 300, seed=34)
    run_folder({"heron/first.jpg": encode(original, "JPEG", quality=90)})
    second = run_folder({"heron/again.png": encode(original.resize((256, 256)), "PNG")})
    assert second.near_duplicates == 1 and second.ingested == 0


def test_rerunning_the_same_folder_adds_nothing(run_folder, project):
    files = {f"heron/{i}.jpg": jpeg_bytes(64, 64, seed=40 + i) for i in range(5)}
    first = run_folder(files)
    counts = (Image.objects.count(), ImageSource.objects.count(), Item.objects.count())
    second = run_folder(files)
    assert first.ingested == 5 and Item.objects.filter(project=project).count() == 5
    assert (second.ingested, second.duplicates, second.near_duplicates) == (0, 5, 0)
    assert (Image.objects.count(), ImageSource.objects.count(), Item.objects.count()) == counts


def test_running_a_finished_batch_again_changes_nothing(run_folder):
    from labeling.services.ingestion import batch_run

    batch = run_folder({"heron/a.jpg": jpeg_bytes(seed=50)})
    again = batch_run(batch_id=batch.id)
    assert (again.ingested, again.total, Image.objects.count()) == (1, 1, 1)


def test_same_image_in_another_project_shares_the_file_not_the_row(run_folder, researcher):
    """Issue 28/25: the file is stored once (content-addressed), but each project has its own image row, so its
    clusters are its own and nothing of the other project (its image id) shows."""
    from django.core.files.storage import default_storage

    from labeling.services.projects import project_create

    other = project_create(slug="other", owner=researcher)
    data = jpeg_bytes(seed=51)
    first = run_folder({"heron/a.jpg": data})
    batch = run_folder({"heron/a.jpg": data}, target=other)
    theirs, mine = first.entries.get().image, batch.entries.get().image
    assert batch.ingested == 1 and Image.objects.count() == 2 and mine.id != theirs.id
    assert (mine.project_id, theirs.project_id) == (other.id, first.project_id)
    assert mine.file.name == theirs.file.name and default_storage.exists(mine.file.name)
    assert ImageSource.objects.filter(image=mine).count() == 1


def test_subfolder_names_become_categories_matched_by_name_or_wordnet_id(run_folder, project):
    from labeling.services.projects import category_upsert

    category_upsert(project=project, name="tench", wnid="n01440764")
    batch = run_folder({"train/n01440764/a.jpg": jpeg_bytes(seed=52), "egret/b.jpg": jpeg_bytes(seed=53)})
    assert batch.ingested == 2
    names = set(ImageSource.objects.values_list("candidate_category__name", flat=True))
    assert names == {"tench", "egret"}


def test_top_level_files_need_a_category_in_a_verify_project(run_folder):
    batch = run_folder({"loose.jpg": jpeg_bytes(seed=54)})
    assert batch.entries.get().reason_code == "missing_category"
    batch = run_folder({"loose.jpg": jpeg_bytes(seed=54)}, category="heron")
    assert batch.ingested == 1
