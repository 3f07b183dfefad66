"""Creating work items from ingested images, in bulk."""

from __future__ import annotations

from labeling.models import ImageSource, IngestBatch, Item, Project


def items_create_from_sources(*, project: Project, batch: IngestBatch | None = None) -> int:
    """One item per (image, candidate category) for `verify`, per image otherwise. Idempotent.

    Near-duplicates (images with a canonical) get no item of their own: their cluster is labelled once. In a
    verify project, the candidate category a near-duplicate came with is still asked, about the canonical image.
    Returns the number of items created.
    """
    sources = ImageSource.objects.filter(project=project)
    if batch is not None:
        sources = sources.filter(batch=batch)
    if project.task_type != Project.TaskType.VERIFY:
        sources = sources.filter(image__canonical__isnull=True)
    pairs = set()
    rows = sources.values_list("image_id", "image__canonical_id", "candidate_category_id")
    for image_id, canonical_id, category_id in rows.iterator():
        if project.task_type == Project.TaskType.VERIFY:
            if category_id is None:
                continue  # a verify question needs a candidate category
            # A near-duplicate's candidate category is asked about its cluster's canonical image (issue 28).
            pairs.add((canonical_id or image_id, category_id))
        else:
            pairs.add((image_id, None))
    before = Item.objects.filter(project=project).count()
    Item.objects.bulk_create(
        [
            Item(project=project, image_id=image_id, category_id=category_id, needed_votes=max(project.min_votes, 1))
            for image_id, category_id in sorted(pairs, key=lambda p: (p[0], p[1] or 0))
        ],
        batch_size=2000,
        ignore_conflicts=True,
    )
    return Item.objects.filter(project=project).count() - before
