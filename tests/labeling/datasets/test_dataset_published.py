"""Issue 28: versions a researcher can publish. Class indices are append-only per project, splits are a seeded
hash of each cluster's canonical SHA-256, a version's rows and votes never change (categories it names are
protected, its votes are copied), and a detection version's background images are not filed under a class."""

from __future__ import annotations

import csv
import io
import json
import tarfile

import pytest
from django.core.files.storage import default_storage

from annotate.exceptions import ServiceError
from labeling.algorithms.splits import HASH_SPLIT_RULE, hash_split
from labeling.models import Annotation, Category, DatasetVersionItem, DatasetVersionVote, Item
from labeling.services.categories import category_delete
from labeling.services.dataset_integrity import dataset_version_verify
from labeling.services.datasets import dataset_version_create
from labeling.services.projects import category_upsert
from tests.labeling.datasets import factories as f
from tests.labeling.datasets.test_dataset_exports import run_export
from tests.labeling.datasets.test_dataset_exports_detect import detect_project

pytestmark = pytest.mark.django_db


def _rows(version) -> dict[int, tuple[str, int, str, int | None]]:
    return {
        r.image_id: (r.split, r.class_index, r.label_name, r.category_id)
        for r in DatasetVersionItem.objects.filter(version=version)
    }


def _raw_votes(version) -> list[list[str]]:
    export = run_export(version, "raw_votes")
    with default_storage.open(export.file.name, "rb") as fh:
        return list(csv.reader(io.StringIO(fh.read().decode())))


def test_v1_v2_unchanged_class_indices_kept_no_image_moves_split(researcher, voters, make_user):
    """The issue's "done when": v1, more data and a category, v2, a category deleted; v1 and v2 unchanged."""
    p = f.project(researcher, slug="pub", classes=("ant", "cat", "dog"))  # ant: no image in v1
    f.classify_images(p, voters, {"cat": 40, "dog": 40})
    v1 = dataset_version_create(project=p, seed=7)
    assert [(c["index"], c["name"], c["in_version"]) for c in v1.classes] == [(0, "cat", True), (1, "dog", True)]
    rows1, votes1 = _rows(v1), _raw_votes(v1)
    assert len(votes1) == 1 + 80 * 3

    # More data (5 % more of each class, and images of ant, whose id is lower than cat's), a new category.
    f.classify_images(p, voters, {"cat": 2, "dog": 2, "ant": 6}, seed0=1000)
    bird = category_upsert(project=p, name="bird")
    f.classify_images(p, voters, {"bird": 4}, seed0=2000)
    v2 = dataset_version_create(project=p, seed=7)
    index2 = {c["name"]: c["index"] for c in v2.classes}
    assert index2 == {"cat": 0, "dog": 1, "ant": 2, "bird": 3}  # appended, never renumbered
    rows2 = _rows(v2)
    for image_id, (split, class_index, name, _cat) in rows1.items():
        assert rows2[image_id][:3] == (split, class_index, name)  # no image moved between splits
    assert v2.filters["split_rule"] == HASH_SPLIT_RULE

    # Deleting categories: an unused one goes; one a version names (or with votes) is refused, nothing lost.
    spare = category_upsert(project=p, name="spare")
    category_delete(category=spare)
    assert not Category.objects.filter(pk=spare.pk).exists()
    for name in ("dog", "bird"):
        with pytest.raises(ServiceError) as err:
            category_delete(category=Category.objects.get(project=p, name=name))
        assert err.value.code == "category_in_version"
    # A volunteer's account is deleted (their live votes go): the versions' votes are their own copies.
    make_user("late")
    voters[0].delete()
    assert Annotation.objects.filter(item__project=p).count() < 3 * 94

    assert _rows(v1) == rows1 and _rows(v2) == rows2
    assert _raw_votes(v1) == votes1
    dataset_version_verify(version=v1)
    dataset_version_verify(version=v2)
    v3 = dataset_version_create(project=p, seed=7)
    assert {c["name"]: c["index"] for c in v3.classes} == index2
    assert {i: r[0] for i, r in _rows(v3).items()} == {i: r[0] for i, r in rows2.items()}
    assert Category.objects.filter(pk=bird.pk).exists()


def test_class_index_is_append_only_when_a_lower_id_category_gains_images(researcher, voters):
    """Finding 8: classes were "categories with images, in id order": ant's first images moved cat 0 -> 1."""
    p = f.project(researcher, slug="idx", classes=("ant", "cat", "dog"))
    f.classify_images(p, voters, {"cat": 3, "dog": 3})
    v1 = dataset_version_create(project=p)
    f.classify_images(p, voters, {"ant": 3}, seed0=100)
    v2 = dataset_version_create(project=p)
    one = {c["name"]: c["index"] for c in v1.classes}
    two = {c["name"]: c["index"] for c in v2.classes}
    assert one == {"cat": 0, "dog": 1} and two == {"cat": 0, "dog": 1, "ant": 2}
    # Only dog in v3 (the version filters the others out): cat and ant keep their slots, listed as absent.
    v3 = dataset_version_create(project=p, categories=[f.cat(p, "dog").id])
    assert [(c["name"], c["index"], c["in_version"]) for c in v3.classes] == [
        ("cat", 0, False), ("dog", 1, True), ("ant", 2, False)]  # fmt: skip
    assert {r.class_index for r in DatasetVersionItem.objects.filter(version=v3)} == {1}
    export = run_export(v3, "imagefolder")
    with default_storage.open(export.file.name, "rb") as fh, tarfile.open(fileobj=fh) as tar:
        classes = json.load(tar.extractfile("classes.json"))
    assert [(c["index"], c["name"], c["in_version"]) for c in classes] == [
        (0, "cat", False), (1, "dog", True), (2, "ant", False)]  # fmt: skip


def test_splits_do_not_move_when_data_grows(researcher, voters):
    """Finding 9: adding a few percent of images moved v1 test images into train with the same seed."""
    p = f.project(researcher, slug="grow", classes=("cat", "dog"))
    f.classify_images(p, voters[:1], {"cat": 50, "dog": 50})
    v1 = dataset_version_create(project=p, seed=1)
    f.classify_images(p, voters[:1], {"cat": 3, "dog": 3}, seed0=500)
    v2 = dataset_version_create(project=p, seed=1)
    s1 = {r.image_id: r.split for r in DatasetVersionItem.objects.filter(version=v1)}
    s2 = {r.image_id: r.split for r in DatasetVersionItem.objects.filter(version=v2)}
    assert {i: s2[i] for i in s1} == s1
    assert set(s1.values()) == {"train", "val", "test"}


def test_a_cluster_splits_by_its_canonical_sha(researcher, voters):
    p = f.project(researcher, slug="clu", classes=("cat",))
    canonical = f.image(1)
    near = f.image(2, canonical=canonical)
    for img in (canonical, near):
        f.source(p, img)
    f.item(p, canonical, label=f.cat(p, "cat").id, confidence=0.9)
    for seed in range(6):
        v = dataset_version_create(project=p, seed=seed, exclude_near_duplicates=False)
        rows = {r.image_id: r.split for r in DatasetVersionItem.objects.filter(version=v)}
        expected = ("train", "val", "test")[int(hash_split([canonical.sha256], (0.8, 0.1, 0.1), seed)[0])]
        assert rows == {canonical.id: expected, near.id: expected}


def test_hash_split_fractions_hold_in_expectation():
    keys = [f"{i:064x}" for i in range(20_000)]
    split = hash_split(keys, (0.7, 0.2, 0.1), seed=3)
    fractions = [float((split == k).mean()) for k in range(3)]
    assert fractions == pytest.approx([0.7, 0.2, 0.1], abs=0.015)
    assert list(hash_split(keys[:50], (0.7, 0.2, 0.1), seed=3)) == list(split[:50])  # the others do not matter


def test_deleting_a_verify_category_with_votes_is_refused_and_loses_nothing(researcher, voters):
    """Finding 10: category_delete cascaded through items to their votes (and raw_votes read the live table)."""
    p = f.project(researcher, slug="ver", task_type="verify", classes=("cat", "dog"))
    dog = f.cat(p, "dog")
    for i in range(3):
        img = f.image(300 + i)
        f.source(p, img, category=dog)
        f.item(p, img, category=dog, label=1, posterior=[0.1, 0.9], votes=[(u, 1) for u in voters])
    with pytest.raises(ServiceError) as err:
        category_delete(category=dog)
    assert err.value.code == "category_has_votes" and err.value.status_code == 409
    assert Annotation.objects.filter(item__project=p).count() == 9
    v1 = dataset_version_create(project=p)
    assert DatasetVersionVote.objects.filter(version=v1).count() == 9
    Annotation.objects.filter(item__project=p).delete()  # whatever happens to the live votes later
    assert len(_raw_votes(v1)) == 1 + 9


def test_a_changed_row_fails_the_content_hash_check_on_read(classify_project):
    version = dataset_version_create(project=classify_project)
    dataset_version_verify(version=version)
    row = DatasetVersionItem.objects.filter(version=version).first()
    DatasetVersionItem.objects.filter(pk=row.pk).update(split="test" if row.split != "test" else "train")
    with pytest.raises(ServiceError) as err:
        dataset_version_verify(version=version)
    assert err.value.code == "version_corrupt"
    from labeling.services.exports.runner import dataset_export_request, dataset_export_run

    export = dataset_export_request(version=version, fmt="jsonl", enqueue=False)
    with pytest.raises(ServiceError):
        dataset_export_run(export_id=export.id)
    export.refresh_from_db()
    assert export.status == "failed" and "content hash" in export.error


def test_detection_background_images_are_not_filed_under_a_class(researcher, voters, tmp_path):
    """Finding 11: class_index -1 reached `folders[-1]`: train/002/<background>.jpg, read by torchvision as
    bike; COCO/JSONL/CSV named `train/-01/...`, a path not in the archive."""
    from torchvision.datasets import ImageFolder

    p = detect_project(researcher, "bg")
    ids = dict(p.categories.values_list("name", "id"))
    images = []
    for i in range(12):
        img = f.image(700 + i, width=80, height=60)
        f.source(p, img)
        boxes = [] if i % 4 == 0 else [[5, 5, 20, 10, ids["car"]]]
        f.item(p, img, answer={"boxes": boxes}, confidence=0.9, votes=[(voters[0], None)])
        images.append((img, bool(boxes)))
    version = dataset_version_create(project=p, split=(0.5, 0.25, 0.25))
    background = {img.id for img, has in images if not has}
    assert {r.image_id for r in DatasetVersionItem.objects.filter(version=version, class_index=-1)} == background

    tar_export = run_export(version, "imagefolder")
    with default_storage.open(tar_export.file.name, "rb") as fh, tarfile.open(fileobj=fh) as tar:
        names = set(tar.getnames())
        tar.extractall(tmp_path, filter="data")
    jsonl = run_export(version, "jsonl")
    with default_storage.open(jsonl.file.name, "rb") as fh:
        records = [json.loads(line) for line in fh.read().decode().splitlines()]
    for rec in records:
        assert rec["file_name"] in names  # every path the metadata names is in the archive
        if rec["image_id"] in background:
            assert rec["file_name"].startswith("background/") and rec["label_index"] == -1
    for split in ("train", "val", "test"):
        if (tmp_path / split).exists():
            folder = ImageFolder(str(tmp_path / split))
            read = {int(path.rsplit("/", 1)[1].split(".")[0]) for path, _ in folder.samples}
            assert not read & background
    coco = run_export(version, "coco")
    with default_storage.open(coco.file.name, "rb") as fh:
        doc = json.load(fh)
    assert {im["file_name"] for im in doc["images"]} <= names
    assert Item.objects.filter(project=p).count() == 12


def test_export_read_ahead_is_capped_by_bytes(classify_project):
    """Read-ahead was 8 batches whatever their size (8 x 16 files of 50 MB = 6.4 GB in memory)."""
    from labeling.services.exports.base import iter_rows, read_images

    version = dataset_version_create(project=classify_project)
    pulled = []

    def counted():
        for row in iter_rows(version):
            pulled.append(row.image_id)
            yield row

    images = read_images(counted(), batch=2, ahead=8, max_bytes=1)
    first_row, data = next(images)
    assert len(pulled) == 2  # one batch in flight: its bytes are over the cap already
    assert data and first_row.size_bytes == len(data)
    assert len(list(images)) == version.items_count - 1
