"""Contributed images: a volunteer or researcher submits images to a project that allows it, consenting to its
licence. The files become an upload batch and go through the normal ingest (validation, dedupe, thumbnails,
items), so they are verified by the crowd like crawled candidates; their provenance carries the project's
licence and "contributed by <credit>", which exports and the dataset card show. Researchers moderate: a rejected
contribution's items are excluded from new dataset versions (curation's exclude), an approved one stays.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from annotate.exceptions import ServiceError
from labeling.models import Category, Contribution, ImageSource, IngestBatch, Item, Project
from labeling.services.curation import items_set_excluded
from labeling.services.ingestion.batch import batch_run
from labeling.services.ingestion.uploads import batch_create_from_uploads

MAX_FILES = 200


def contribution_submit(
    *, project: Project, user, files: Sequence[UploadedFile], consent: bool, credit: str = "",
    category: Category | None = None,
) -> Contribution:  # fmt: skip
    if not project.contributions_open:
        raise ServiceError(_("This project does not take contributed images."), code="contributions_closed",
                           status_code=403)  # fmt: skip
    if not consent:
        raise ServiceError(_("Contributions need your consent to the project's licence."), code="consent_required")
    if not files or len(files) > MAX_FILES:
        raise ServiceError(_("Send between 1 and %(n)d images.") % {"n": MAX_FILES}, code="invalid_file_count")
    if category is not None and category.project_id != project.id:
        raise ServiceError(_("The category belongs to another project."), code="invalid_category")
    credit = " ".join((credit or user.get_full_name() or user.username).split())[:200]
    with transaction.atomic():
        batch = batch_create_from_uploads(project=project, kind=IngestBatch.Kind.UPLOAD, files=list(files),
                                          default_category=category, created_by=user)  # fmt: skip
        contribution = Contribution.objects.create(project=project, contributor=user, credit=credit,
                                                   license=project.contribution_license or "", consent=True,
                                                   category=category, batch=batch)  # fmt: skip
        from labeling.tasks.collection import contribution_run

        transaction.on_commit(lambda: contribution_run.delay(contribution.id))
    return contribution


def contribution_ingest(*, contribution_id: int) -> Contribution:
    """Run the contribution's batch (resumable), then put licence and credit on its provenance rows."""
    contribution = Contribution.objects.select_related("batch").get(pk=contribution_id)
    batch_run(batch_id=contribution.batch_id)
    ImageSource.objects.filter(batch_id=contribution.batch_id).update(
        license=contribution.license[:200], attribution=f"contributed by {contribution.credit}"[:500]
    )
    return contribution


def contribution_moderate(*, contribution: Contribution, approve: bool, user) -> Contribution:
    item_ids = list(
        Item.objects.filter(project_id=contribution.project_id, image__sources__batch_id=contribution.batch_id)
        .values_list("id", flat=True)
        .distinct()
    )
    with transaction.atomic():
        if item_ids:
            items_set_excluded(project=contribution.project, item_ids=item_ids, excluded=not approve, user=user)
        contribution.status = Contribution.Status.APPROVED if approve else Contribution.Status.REJECTED
        contribution.moderated_by, contribution.moderated_at = user, timezone.now()
        contribution.save(update_fields=["status", "moderated_by", "moderated_at"])
    return contribution
