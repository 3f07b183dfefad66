"""Embeddings and similar images: stored compactly, exact cosine search, scoped to the project."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import call_command

from labeling.models import Item
from tests.training.factories import shapes_version
from training.models import ImageEmbedding

pytestmark = pytest.mark.django_db


def test_embeddings_then_similar_images_by_class(make_user, api_client):
    rita = make_user("rita", role="researcher")
    s = shapes_version(owner=rita, n_per_class=8, size=64)
    out = io.StringIO()
    call_command("compute_embeddings", "--project", s.project.slug, "--device", "cpu", stdout=out)
    assert out.getvalue().strip() == "24 embeddings written"
    again = io.StringIO()
    call_command("compute_embeddings", "--project", s.project.slug, stdout=again)
    assert again.getvalue().strip() == "0 embeddings written"  # only missing ones
    emb = ImageEmbedding.objects.filter(project=s.project).first()
    vec = np.frombuffer(bytes(emb.vector), dtype="<f2")
    assert emb.dim == 1280 == vec.size and abs(float(np.linalg.norm(vec.astype(np.float32))) - 1) < 1e-2

    label_of = dict(Item.objects.filter(project=s.project).values_list("image_id", "label"))
    api_client.force_authenticate(rita)
    hits = 0
    for image_id in list(label_of)[::4]:
        res = api_client.get(f"/api/training/images/{image_id}/similar/", {"project": s.project.slug, "k": 3})
        assert res.status_code == 200, res.json()
        body = res.json()
        assert len(body) == 3 and image_id not in [b["image"] for b in body]
        assert [b["score"] for b in body] == sorted((b["score"] for b in body), reverse=True)
        for b in body:  # each hit names an item of the project on that image, its page and its thumbnail
            item = Item.objects.get(pk=b["item"])
            assert item.project_id == s.project.pk and item.image_id == b["image"]
            assert b["item_url"] == f"/projects/{s.project.slug}/items/{item.pk}/"
            assert b["thumbnail_url"] == f"/media/thumb/{item.image.sha256}"
        hits += sum(label_of[b["image"]] == label_of[image_id] for b in body)
    assert hits >= 12, hits  # of 18 neighbours, most share the shape (chance: 7/23 ~ 30 %)

    bob = make_user("bob", role="researcher")
    api_client.force_authenticate(bob)
    res = api_client.get(f"/api/training/images/{image_id}/similar/", {"project": s.project.slug})
    assert res.status_code == 404
