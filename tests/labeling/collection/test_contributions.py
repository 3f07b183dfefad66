"""Contributed images: submitted with consent to the project's licence, ingested by the worker through the normal
validation, credited in provenance and the dataset card, moderated by the project's researchers."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotate.exceptions import ServiceError
from labeling.models import Contribution, ImageSource, IngestBatch, Item
from labeling.services.collection.contributions import contribution_moderate, contribution_submit
from labeling.services.dataset_card import collection_card_lines
from tests.helpers.images import jpeg_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def _files(n, seed=0):
    return [SimpleUploadedFile(f"p{i}.jpg", jpeg_bytes(80, 60, seed=seed + i), content_type="image/jpeg")
            for i in range(n)]  # fmt: skip


def test_contribution_goes_through_ingest_and_is_credited_and_moderated(project, researcher, make_user, client,
                                                                        celery_worker):  # fmt: skip
    project.contributions_open, project.contribution_license = True, "CC BY 4.0"
    project.save(update_fields=["contributions_open", "contribution_license"])
    ada = make_user("ada")
    client.force_login(ada)
    heron = project.categories.get(name="heron")
    files = [*_files(3), SimpleUploadedFile("notes.jpg", b"<html>not an image</html>", content_type="image/jpeg")]
    page = client.post(f"/projects/{project.slug}/contribute/",
                       {"files": files, "consent": "on", "credit": "Ada L.", "category": str(heron.pk)})  # fmt: skip
    assert page.status_code == 302
    contribution = Contribution.objects.get(project=project)
    deadline = time.monotonic() + 120
    while IngestBatch.objects.get(pk=contribution.batch_id).status != IngestBatch.Status.DONE:
        assert time.monotonic() < deadline, "the worker did not ingest the contribution"
        time.sleep(0.3)
    time.sleep(0.5)  # the task puts the credit on the provenance right after the batch ends
    batch = IngestBatch.objects.get(pk=contribution.batch_id)
    assert (batch.ingested, batch.rejected) == (3, 1)  # the same validation as any crawl: the HTML is refused
    sources = ImageSource.objects.filter(batch=batch)
    deadline = time.monotonic() + 30
    while sources.exclude(attribution="contributed by Ada L.").exists() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert {(s.license, s.attribution) for s in sources} == {("CC BY 4.0", "contributed by Ada L.")}
    items = Item.objects.filter(project=project, category=heron)
    assert items.count() == 3 and not items.filter(excluded=True).exists()  # verified by the crowd like the rest
    assert "- Ada L.: 3 images, CC BY 4.0" in collection_card_lines(project)

    contribution_moderate(contribution=contribution, approve=False, user=researcher)
    assert items.filter(excluded=True).count() == 3
    assert not any("Ada L." in line for line in collection_card_lines(project))
    client.force_login(researcher)
    assert b"Ada L." in client.get(f"/projects/{project.slug}/contributions/").content


def test_contribution_needs_an_open_project_and_consent(project, make_user):
    ada = make_user("ada")
    with pytest.raises(ServiceError, match="does not take"):
        contribution_submit(project=project, user=ada, files=_files(1), consent=True)
    project.contributions_open = True
    project.save(update_fields=["contributions_open"])
    with pytest.raises(ServiceError, match="consent"):
        contribution_submit(project=project, user=ada, files=_files(1), consent=False)
    assert not Contribution.objects.exists()
