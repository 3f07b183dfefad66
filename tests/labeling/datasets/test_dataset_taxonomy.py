"""Taxonomy in datasets: WordNet ids in classes.json, the ImageNet folder layout, children counting as parents."""

import json
import tarfile
from collections import Counter

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from labeling.models import Category, DatasetExport
from labeling.services.datasets import dataset_version_create
from labeling.services.exports import dataset_export_request, dataset_export_run
from tests.labeling.datasets import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def imagenet_like(researcher, voters):
    """tench and goldfish with WordNet ids, "../evil" without one (its folder must stay inside the tree)."""
    p = f.project(researcher, slug="fish", classes=("tench", "goldfish", "../evil"))
    Category.objects.filter(project=p, name="tench").update(wnid="n01440764")
    Category.objects.filter(project=p, name="goldfish").update(wnid="n01443537")
    f.classify_images(p, voters, {"tench": 6, "goldfish": 5, "../evil": 4})
    return p


def _extract(export, dest):
    with default_storage.open(export.file.name, "rb") as fh, tarfile.open(fileobj=fh, mode="r|") as tar:
        tar.extractall(dest, filter="data")
    return dest


def _export(version, **options):
    export = dataset_export_request(version=version, fmt="imagefolder", options=options, enqueue=False)
    export = dataset_export_run(export_id=export.id)
    assert export.status == DatasetExport.Status.DONE, export.error
    return export


def test_classes_json_carries_wordnet_ids(imagenet_like, tmp_path):
    v = dataset_version_create(project=imagenet_like, seed=0)
    root = _extract(_export(v), tmp_path)
    classes = json.loads((root / "classes.json").read_text())
    by_name = {c["name"]: c for c in classes}
    assert by_name["tench"]["wnid"] == "n01440764" and by_name["goldfish"]["wnid"] == "n01443537"
    assert by_name["../evil"]["wnid"] is None
    assert [c["index"] for c in classes] == list(range(3)) and [c["folder"] for c in classes] == ["000", "001", "002"]


def test_wnid_folders_give_the_imagenet_layout_that_imagefolder_reads(imagenet_like, tmp_path):
    from torchvision.datasets import ImageFolder

    v = dataset_version_create(project=imagenet_like, seed=0)
    root = _extract(_export(v, folder_names="wnid"), tmp_path)
    classes = json.loads((root / "classes.json").read_text())
    by_folder = {c["folder"]: c["name"] for c in classes}
    assert set(by_folder) == {"n01440764", "n01443537", "evil"}  # no wnid: a safe slug of the name
    loaded = Counter()
    for split in ("train", "val", "test"):
        if (root / split).is_dir():
            ds = ImageFolder(str(root / split))
            assert set(ds.classes) <= set(by_folder)
            for _, target in ds.samples:
                loaded[(split, by_folder[ds.classes[target]])] += 1
    for name, counts in v.stats["per_class"].items():
        for split in ("train", "val", "test"):
            assert loaded[(split, name)] == counts[split]
    meta = [json.loads(line) for line in (root / "metadata.jsonl").read_text().splitlines()]
    assert all((root / m["file_name"]).is_file() for m in meta) and len(meta) == v.items_count
    # The training reader maps the same folders through classes.json.
    from training.ml.datasets import discover_classes, list_samples

    names = discover_classes(root)
    assert len(list_samples(root, "train", names)) == v.stats["splits"]["train"]


def test_folder_names_through_the_command_and_the_api(imagenet_like, tmp_path, api_client):
    v = dataset_version_create(project=imagenet_like, seed=0)
    out = tmp_path / "fish.tar"
    call_command("export", "--version", str(v.id), "--format", "imagefolder", "--out", str(out),
                 "--folder-names", "wnid", "--json")  # fmt: skip
    with tarfile.open(out) as tar:
        assert any(n.startswith("train/n01440764/") for n in tar.getnames())
    api_client.force_authenticate(imagenet_like.owners.get())
    url = f"/api/datasets/{v.id}/exports/"
    assert api_client.post(url, {"format": "imagefolder", "folder_names": "synset"}, format="json").status_code == 400
    response = api_client.post(url, {"format": "imagefolder", "folder_names": "wnid"}, format="json")
    assert response.status_code == 202
    assert DatasetExport.objects.get(pk=response.json()["id"]).options == {"folder_names": "wnid"}


def test_a_yes_for_a_child_counts_for_its_chosen_parent(researcher, voters):
    p = f.project(researcher, slug="dogs", task_type="verify", classes=("dog", "beagle", "cat"))
    dog, beagle, cat = (f.cat(p, n) for n in ("dog", "beagle", "cat"))
    Category.objects.filter(pk=beagle.pk).update(parent=dog)
    yes, no = [0.1, 0.9], [0.9, 0.1]
    img = [f.image(s) for s in range(5)]
    f.item(p, img[0], category=beagle, label=1, posterior=yes, votes=[(u, 1) for u in voters])  # a beagle: a dog
    f.item(p, img[1], category=dog, label=1, posterior=yes, votes=[(u, 1) for u in voters])
    f.item(p, img[2], category=beagle, label=0, posterior=no, votes=[(u, 0) for u in voters])  # not a beagle: unknown
    f.item(p, img[3], category=cat, label=1, posterior=yes, votes=[(u, 1) for u in voters])
    # Asked under both (two crawls found it): yes for dog (surer) and yes for beagle.
    f.item(p, img[4], category=dog, label=1, posterior=[0.01, 0.99], votes=[(u, 1) for u in voters])
    f.item(p, img[4], category=beagle, label=1, posterior=[0.2, 0.8], votes=[(u, 1) for u in voters])

    parents_only = dataset_version_create(project=p, categories=[dog.id, cat.id], seed=0)
    rows = {r.image_id: r for r in parents_only.rows.all()}
    assert {i: rows[i].label_name for i in rows} == {img[0].id: "dog", img[1].id: "dog", img[3].id: "cat",
                                                     img[4].id: "dog"}  # fmt: skip
    assert rows[img[0].id].votes == {"beagle": {"yes": 3, "no": 0}}  # the votes stay under the question asked
    # With the child chosen too, the most specific class wins.
    everything = dataset_version_create(project=p, seed=0)
    labels = {r.image_id: r.label_name for r in everything.rows.all()}
    assert labels[img[0].id] == "beagle" and labels[img[1].id] == "dog" and img[2].id not in labels
    assert labels[img[4].id] == "beagle"  # a yes for the child is the more specific answer, whatever the posteriors
