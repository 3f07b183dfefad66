"""Reads for the ingest pages and API, always scoped to projects the researcher owns."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from labeling.models import Category, ImageSource, IngestBatch, IngestEntry, Project
from labeling.selectors.projects import projects_for_researcher

# The only orderings a client may ask for (no relation traversal through a user-supplied field).
IMAGE_ORDERINGS = {"id": "id", "-id": "-id", "ingested": "ingested_at", "-ingested": "-ingested_at"}


def batch_for_researcher(user, pk: int) -> IngestBatch:
    batch = (
        IngestBatch.objects.select_related("project", "default_category")
        .filter(pk=pk, project__in=projects_for_researcher(user).values("id"))
        .first()
    )
    if batch is None:
        raise Http404("No such batch.")
    return batch


def category_for_project(project: Project, pk: int) -> Category:
    category = Category.objects.select_related("parent").filter(project=project, pk=pk).first()
    if category is None:
        raise Http404("No such category.")
    return category


def batch_rejections(batch: IngestBatch, *, limit: int = 500) -> QuerySet[IngestEntry]:
    return batch.entries.filter(status=IngestEntry.Status.REJECTED).order_by("id")[:limit]


def image_sources_for_project(
    project: Project,
    *,
    category: int | None = None,
    batch: int | None = None,
    near_duplicate: bool | None = None,
    ordering: str = "-id",
) -> QuerySet[ImageSource]:
    qs = ImageSource.objects.filter(project=project).select_related("image", "candidate_category")
    if category is not None:
        qs = qs.filter(candidate_category_id=category)
    if batch is not None:
        qs = qs.filter(batch_id=batch)
    if near_duplicate is not None:
        qs = qs.filter(image__canonical__isnull=not near_duplicate)
    return qs.order_by(IMAGE_ORDERINGS.get(ordering, "-id"))
