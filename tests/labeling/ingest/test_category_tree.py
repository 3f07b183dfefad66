"""The categories page shows the label space as a tree (WordNet-style parents), in one query."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labeling.models import Category
from labeling.selectors.categories import category_tree
from labeling.services.categories import category_update
from labeling.services.projects import category_upsert, project_create

pytestmark = pytest.mark.django_db


def test_tree_order_depth_and_cycles(make_user, client):
    owner = make_user("tina", role="researcher")
    project = project_create(slug="tree", task_type="verify", owner=owner, categories=[{"name": "animal"}])
    for name, parent in (("dog", "animal"), ("beagle", "dog"), ("cat", "animal"), ("car", None)):
        category_upsert(project=project, name=name, wnid=f"n{len(name):08d}", parent=parent)
    with CaptureQueriesContext(connection) as q:
        rows = category_tree(project=project)
    assert len(q) == 1
    assert [(r.category.name, r.depth, r.children) for r in rows] == [
        ("animal", 0, 2), ("cat", 1, 0), ("dog", 1, 1), ("beagle", 2, 0), ("car", 0, 0),
    ]  # fmt: skip
    a, b = Category.objects.create(project=project, name="x"), Category.objects.create(project=project, name="y")
    category_update(category=a, name="x", parent=b)
    Category.objects.filter(pk=b.pk).update(parent=a)  # a cycle an old import could have left
    names = [r.category.name for r in category_tree(project=project)]
    assert sorted(names) == sorted(["animal", "cat", "dog", "beagle", "car", "x", "y"])
    client.force_login(owner)
    html = client.get(f"/projects/{project.slug}/categories/").content.decode()
    assert 'data-depth="2"' in html and "(2 below)" in html
