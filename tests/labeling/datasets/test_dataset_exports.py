"""Every export format, read back with the real reader researchers use."""

import io
import json
import tarfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from django.core.files.storage import default_storage

from labeling.models import DatasetExport
from labeling.services.datasets import dataset_version_create
from labeling.services.exports import dataset_export_request, dataset_export_run
from tests.labeling.datasets import factories as f

pytestmark = pytest.mark.django_db


def run_export(version, fmt, **options):
    export = dataset_export_request(version=version, fmt=fmt, options=options, enqueue=False)
    export = dataset_export_run(export_id=export.id)
    assert export.status == DatasetExport.Status.DONE and export.progress == 1.0
    assert export.size == default_storage.size(export.file.name) > 0
    return export


def extract(export, dest: Path) -> Path:
    with default_storage.open(export.file.name, "rb") as fh, tarfile.open(fileobj=fh, mode="r|") as tar:
        tar.extractall(dest, filter="data")
    return dest


def test_imagefolder_loads_with_torchvision(classify_project, tmp_path):
    from torchvision.datasets import ImageFolder

    v = dataset_version_create(project=classify_project, seed=2)
    export = run_export(v, "imagefolder")
    root = extract(export, tmp_path)
    classes = [c["name"] for c in json.loads((root / "classes.json").read_text())]
    assert classes == [c["name"] for c in v.classes]
    loaded = Counter()
    for split in ("train", "val", "test"):
        if not (root / split).is_dir():
            continue
        ds = ImageFolder(str(root / split))
        assert all(name.isdigit() and len(name) == 3 for name in ds.classes)
        for i in range(len(ds)):
            img, target = ds[i]
            assert img.size[0] > 0
            loaded[(split, classes[int(ds.classes[target])])] += 1
    for name, counts in v.stats["per_class"].items():
        for split in ("train", "val", "test"):
            assert loaded[(split, name)] == counts[split]
    assert sum(loaded.values()) == v.items_count == export.items_count
    meta = [json.loads(line) for line in (root / "metadata.jsonl").read_text().splitlines()]
    assert len(meta) == v.items_count and all((root / m["file_name"]).is_file() for m in meta)
    assert "Known limitations" in (root / "README.md").read_text()
    # no user-controlled name anywhere in the archive paths
    with default_storage.open(export.file.name, "rb") as fh, tarfile.open(fileobj=fh) as tar:
        assert not any("script" in n or ".." in n or n.startswith("/") for n in tar.getnames())


def test_csv_pandas_dtypes_and_injection(researcher, voters, tmp_path):
    p = f.project(researcher, slug="inj", classes=("=cmd|' /C calc'!A0", "+plus", "-minus", "@at", "safe"))
    f.classify_images(p, voters, {"=cmd|' /C calc'!A0": 2, "+plus": 2, "-minus": 2, "@at": 2, "safe": 2})
    img = f.image(999)
    f.source(p, img, uri='=HYPERLINK("http://evil")', license="\tCC0", attribution="\r@me")
    f.item(p, img, label=f.cat(p, "safe").id, confidence=0.7)
    v = dataset_version_create(project=p)
    export = run_export(v, "csv")
    with default_storage.open(export.file.name, "rb") as fh:
        df = pd.read_csv(fh, keep_default_na=False, na_values=[""])
    assert len(df) == v.items_count == 11
    assert df["image_id"].dtype == "int64" and df["label_index"].dtype == "int64"
    assert df["posterior"].dtype == "float64" and df["n_votes"].dtype == "int64"
    assert df["is_gold"].dtype == "bool" and df["width"].dtype == "int64"
    text_cols = df.select_dtypes(include="object")
    for col in text_cols:
        for cell in text_cols[col].dropna():
            assert not str(cell).startswith(("=", "+", "-", "@", "\t", "\r")), (col, cell)
    assert set(df["label"]) == {"'=cmd|' /C calc'!A0", "'+plus", "'-minus", "'@at", "safe"}
    row = df[df["image_id"] == img.id].iloc[0]
    assert row["source_uri"] == '\'=HYPERLINK("http://evil")' and row["license"] == "'\tCC0"
    assert json.loads(df.iloc[0]["votes"]) and json.loads(df.iloc[0]["soft_label"])


def test_jsonl_and_raw_votes(classify_project, voters, make_user):
    v = dataset_version_create(project=classify_project)
    export = run_export(v, "jsonl")
    with default_storage.open(export.file.name, "rb") as fh:
        records = [json.loads(line) for line in fh]
    assert len(records) == v.items_count
    assert {"label", "posterior", "votes", "soft_label", "source_uri", "license", "attribution"} <= set(records[0])
    late = make_user("late")
    f.vote(v.rows.first().image.items.first(), late, None)  # after the snapshot: not in the export
    export = run_export(v, "raw_votes")
    with default_storage.open(export.file.name, "rb") as fh:
        votes = pd.read_csv(fh)
    assert len(votes) == export.items_count == v.items_count * 3
    assert set(votes["annotator"]) == set().union(*(r.annotators for r in v.rows.all()))
    assert not set(votes["annotator"]) & {u.username for u in [*voters, late]}
    assert votes["label"].dtype == "int64"


def test_webdataset_shards_iterate_every_sample(researcher, tmp_path):
    import webdataset as wds

    p = f.project(researcher, slug="wds", classes=("a", "b"))
    f.bulk_classify(p, 60, side=40)
    v = dataset_version_create(project=p)
    export = run_export(v, "webdataset", shard_mb=0.02)  # ~20 KB shards -> many shards
    root = extract(export, tmp_path)
    shards = json.loads((root / "shards.json").read_text())
    assert len(shards["train"]) > 2
    seen = {}
    for split, names in shards.items():
        for name in names:
            assert (root / name).stat().st_size <= 0.02 * 1024 * 1024
        if not names:
            continue
        dataset = wds.WebDataset([str(root / n) for n in names], shardshuffle=False).decode("pil")
        for sample in dataset:
            meta = sample["json"]
            assert sample["jpg"].size == (40, 40) and int(sample["cls"]) == meta["label_index"]
            assert meta["split"] == split
            seen[meta["image_id"]] = split
    assert len(seen) == v.items_count == 60
    assert seen == dict(v.rows.values_list("image_id", "split"))


class _Pipe:
    """An output that cannot seek (a socket, an upload stream): shards are spooled, then copied in."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def write(self, data: bytes) -> int:
        return self.buffer.write(data)

    def seekable(self) -> bool:
        return False


def test_webdataset_shards_streamed_into_the_outer_tar_load_with_webdataset(researcher, tmp_path):
    """Shards written in place (header block reserved, filled in once the shard is closed) are byte for byte
    the spooled ones, the outer tar streams with tarfile's non-seeking reader, and webdataset reads them."""
    import webdataset as wds

    from labeling.services.exports import webdataset

    p = f.project(researcher, slug="wds-stream", classes=("a", "b", "c"))
    f.bulk_classify(p, 90, side=40, seed=3)
    v = dataset_version_create(project=p, seed=1)
    in_place, spooled = io.BytesIO(), _Pipe()
    assert webdataset.write(v, in_place, lambda _: None, {"shard_mb": 0.03}) == 90
    webdataset.write(v, spooled, lambda _: None, {"shard_mb": 0.03})
    assert in_place.getvalue() == spooled.buffer.getvalue()
    assert len(in_place.getvalue()) % tarfile.RECORDSIZE == 0

    in_place.seek(0)
    with tarfile.open(fileobj=in_place, mode="r|") as tar:
        tar.extractall(tmp_path, filter="data")
    shards = json.loads((tmp_path / "shards.json").read_text())
    assert len(shards["train"]) > 2 and sum(map(len, shards.values())) == len(list(tmp_path.glob("*-0*.tar")))
    seen = {}
    for split, names in shards.items():
        for name in names:
            assert (tmp_path / name).stat().st_size <= 0.03 * 1024 * 1024
            with tarfile.open(tmp_path / name) as shard:  # each shard is a well-formed tar of its own
                assert len(shard.getmembers()) % 3 == 0
        if names:
            for sample in wds.WebDataset([str(tmp_path / n) for n in names], shardshuffle=False).decode("pil"):
                assert sample["jpg"].size == (40, 40) and int(sample["cls"]) == sample["json"]["label_index"]
                seen[sample["json"]["image_id"]] = split
    assert seen == dict(v.rows.values_list("image_id", "split"))


def test_coco_boxes_loads_and_cocoeval_runs(researcher, voters, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    p = f.project(researcher, slug="box", task_type="boxes", classes=("car",))
    car = f.cat(p, "car")
    for i in range(6):
        img = f.image(100 + i, width=80, height=60)
        f.source(p, img)
        f.item(p, img, answer={"boxes": [[5, 5, 20, 10], [30, 20, 25, 30], [1, 1, 0, 5]]}, confidence=0.8,
               votes=[(voters[0], None)])  # fmt: skip
    v = dataset_version_create(project=p)
    assert v.rows.first().category_id == car.id and v.stats["boxes"] == 12
    export = run_export(v, "coco")
    path = tmp_path / "coco.json"
    with default_storage.open(export.file.name, "rb") as fh:
        path.write_bytes(fh.read())
    gt = COCO(str(path))
    assert len(gt.getImgIds()) == 6 and len(gt.getAnnIds()) == 12
    assert gt.loadCats(gt.getCatIds())[0]["name"] == "car"
    dets = [{**a, "score": 0.9} for a in gt.loadAnns(gt.getAnnIds())]
    ev = COCOeval(gt, gt.loadRes(dets), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


def test_coco_classification_image_level(classify_project, tmp_path):
    from pycocotools.coco import COCO

    v = dataset_version_create(project=classify_project)
    export = run_export(v, "coco")
    path = tmp_path / "c.json"
    with default_storage.open(export.file.name, "rb") as fh:
        path.write_bytes(fh.read())
    gt = COCO(str(path))
    assert len(gt.getImgIds()) == v.items_count == len(gt.getAnnIds())
    assert [c["name"] for c in gt.loadCats(gt.getCatIds())] == [c["name"] for c in v.classes]


def test_export_request_is_idempotent_and_run_is_rerunnable(classify_project):
    v = dataset_version_create(project=classify_project)
    a = dataset_export_request(version=v, fmt="csv", enqueue=False)
    assert dataset_export_request(version=v, fmt="csv", enqueue=False) == a
    done = dataset_export_run(export_id=a.id)
    again = dataset_export_run(export_id=a.id)
    assert again.file.name == done.file.name
    with pytest.raises(Exception, match="Unknown export format"):
        dataset_export_request(version=v, fmt="../../etc", enqueue=False)
