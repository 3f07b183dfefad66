"""Export details a newcomer meets (issue 24): classify raw votes name their category; the two imagefolder
layouts download under different names."""

from __future__ import annotations

import pandas as pd
import pytest
from django.core.files.storage import default_storage

from labeling.models import Category
from labeling.services.datasets import dataset_version_create
from labeling.services.exports import export_filename
from tests.labeling.datasets.test_dataset_exports import run_export

pytestmark = pytest.mark.django_db


def test_classify_raw_votes_name_the_voted_category(classify_project):
    v = dataset_version_create(project=classify_project)
    export = run_export(v, "raw_votes")
    with default_storage.open(export.file.name, "rb") as fh:
        votes = pd.read_csv(fh, keep_default_na=False)
    names = dict(Category.objects.filter(project=classify_project).values_list("id", "name"))
    assert votes["category"].ne("").all()
    for label, category in zip(votes["label"], votes["category"], strict=True):
        assert names[int(label)].lstrip("'") == category.lstrip("'")  # "'" neutralises a formula-looking cell


def test_the_two_imagefolder_layouts_have_different_file_names(classify_project):
    from labeling.services.exports import dataset_export_request

    v = dataset_version_create(project=classify_project)
    by_index = dataset_export_request(version=v, fmt="imagefolder", options={}, enqueue=False)
    by_wnid = dataset_export_request(version=v, fmt="imagefolder", options={"folder_names": "wnid"}, enqueue=False)
    assert export_filename(by_index) == f"pets-v{v.number}-imagefolder.tar"
    assert export_filename(by_wnid) == f"pets-v{v.number}-imagefolder-wnid.tar"
