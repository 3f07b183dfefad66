"""Issue 28, finding 2, on S3 (moto's server): a partial object under a content-addressed name is found out by
its size and content, and replaced; a matching object is kept."""

from __future__ import annotations

import hashlib

import pytest

from labeling.services.ingestion.storage import blob_matches, blob_store, original_name
from tests.helpers.images import jpeg_bytes

pytestmark = pytest.mark.django_db


def test_a_partial_object_is_replaced_and_a_whole_one_kept(s3_server, s3_bucket):
    data = jpeg_bytes(300, 200, seed=80)
    name = original_name(hashlib.sha256(data).hexdigest(), "jpg")
    s3_server.client().put_object(Bucket=s3_bucket, Key=name, Body=data[: len(data) // 3])
    assert not blob_matches(name=name, data=data)
    assert blob_store(name=name, data=data) == name
    assert s3_server.get(s3_bucket, name) == data and blob_matches(name=name, data=data)
    assert s3_server.keys(s3_bucket) == [name]  # replaced under its own name, no second object beside it
    same_size = bytes(reversed(data))  # same length, other content: not trusted either
    s3_server.client().put_object(Bucket=s3_bucket, Key=name, Body=same_size)
    blob_store(name=name, data=data)
    assert s3_server.get(s3_bucket, name) == data
