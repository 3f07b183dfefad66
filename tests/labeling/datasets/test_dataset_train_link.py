"""The version page links to training on that version and to the project's items."""

from __future__ import annotations

import pytest

from labeling.services.datasets import dataset_version_create
from tests.labeling.quality.qfactories import make_project

pytestmark = pytest.mark.django_db


def test_version_page_has_train_link(make_user, client):
    owner = make_user("tess", role="researcher")
    project, _ = make_project(slug="tl", owner=owner, n_items=2)
    version = dataset_version_create(project=project, created_by=owner)
    client.force_login(owner)
    html = client.get(f"/datasets/{version.pk}/").content.decode()
    assert f'href="/training/versions/{version.pk}/start/" data-testid="train-link">Train on this version' in html
    assert f'href="/projects/{project.slug}/items/"' in html
