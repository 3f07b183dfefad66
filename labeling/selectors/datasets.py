"""Permission-scoped reads of dataset versions and exports: another researcher's objects are a 404."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from labeling.models import DatasetExport, DatasetVersion, DatasetVersionItem, Project
from labeling.selectors.projects import one_or_404, scoped_to_researcher


def versions_for_researcher(user: Any) -> QuerySet[DatasetVersion]:
    """Also training's (training/selectors.py imports these: one implementation of the scoping)."""
    return scoped_to_researcher(DatasetVersion.objects.select_related("project"), user, project_path="project")


def versions_of_project(project: Project) -> QuerySet[DatasetVersion]:
    return (
        DatasetVersion.objects.filter(project=project)
        .select_related("created_by")
        .annotate(exports_done=Count("exports", filter=Q(exports__status=DatasetExport.Status.DONE)))
        .order_by("-number")
    )


def version_for_researcher(user: Any, pk: int) -> DatasetVersion:
    return one_or_404(versions_for_researcher(user), pk, what="dataset version")


def exports_for_researcher(user: Any) -> QuerySet[DatasetExport]:
    return scoped_to_researcher(
        DatasetExport.objects.select_related("version__project"), user, project_path="version__project"
    )


def export_for_researcher(user: Any, pk: int) -> DatasetExport:
    return one_or_404(exports_for_researcher(user), pk, what="export")


def exports_of_version(version: DatasetVersion) -> QuerySet[DatasetExport]:
    return DatasetExport.objects.filter(version=version).order_by("format", "-id")


def latest_exports_by_format(version: DatasetVersion) -> dict[str, DatasetExport]:
    out: dict[str, DatasetExport] = {}
    for export in exports_of_version(version):
        out.setdefault(export.format, export)
    return out


def dataset_version_diff(a: DatasetVersion, b: DatasetVersion) -> dict[str, Any]:
    """Counts going from version a to b: images added, removed, relabelled, moved between splits."""
    old = {i: (lab, s) for i, lab, s in DatasetVersionItem.objects.filter(version=a).values_list(
        "image_id", "label_name", "split").iterator(chunk_size=5000)}  # fmt: skip
    added = removed = relabelled = moved = unchanged = 0
    seen = set()
    for image_id, label, split in (
        DatasetVersionItem.objects.filter(version=b)
        .values_list("image_id", "label_name", "split")
        .iterator(chunk_size=5000)
    ):
        seen.add(image_id)
        before = old.get(image_id)
        if before is None:
            added += 1
        elif before[0] != label:
            relabelled += 1
        elif before[1] != split:
            moved += 1
        else:
            unchanged += 1
    removed = len(old.keys() - seen)
    return {"added": added, "removed": removed, "relabelled": relabelled, "moved_split": moved,
            "unchanged": unchanged, "same_content": a.content_hash == b.content_hash}  # fmt: skip
