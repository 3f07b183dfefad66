"""Creating work items from ingested images, in bulk."""

from __future__ import annotations

from labeling.models import ImageSource, IngestBatch, Item, Project


def items_create_from_sources(*, project: Project, batch: IngestBatch | None = None) -> int:
    """One item per (image, candidate category) for `verify`, per image otherwise. Idempotent.

    Near-duplicates (images with a canonical) get no item of their own: their cluster is labelled once.
    Returns the number of items created.
    """
    sources = ImageSource.objects.filter(project=project, image__canonical__isnull=True)
    if batch is not None:
        sources = sources.filter(batch=batch)
    pairs = set()
    for image_id, category_id in sources.values_list("image_id", "candidate_category_id").iterator():
        if project.task_type == Project.TaskType.VERIFY:
            if category_id is None:
                continue  # a verify question needs a candidate category
            pairs.add((image_id, category_id))
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
