"""Celery tasks: quality (default queue).

`default.project_reaggregate` is enqueued (transaction.on_commit) by the quality engine about every
QUALITY_REAGGREGATE_EVERY-th vote and whenever an annotator gets blocked automatically; see
labeling/services/quality.md. It is idempotent: running it twice writes the same result.
"""

from __future__ import annotations

from celery import shared_task

from labeling.services.quality import project_reaggregate
from labeling.services.quality.stalled import projects_route_stalled


@shared_task(
    name="default.project_reaggregate",
    queue="default",
    acks_late=True,
    time_limit=30 * 60,
    soft_time_limit=25 * 60,
    autoretry_for=(ConnectionError,),
    retry_backoff=True,
    max_retries=3,
)
def project_reaggregate_task(project_id: int) -> dict | None:
    result = project_reaggregate(project_id=project_id)
    if result is None:
        return None
    return {"items_written": result.items_written, "reopened": len(result.reopened), "blocked": result.newly_blocked}


@shared_task(name="default.quality_route_stalled", queue="default", acks_late=True, time_limit=10 * 60,
             soft_time_limit=9 * 60)  # fmt: skip
def quality_route_stalled_task() -> dict[str, int]:
    """Beat: items nobody can answer any more, or that waited longer than their project allows, go to review."""
    results = projects_route_stalled()
    return {
        "no_annotator": sum(len(r.no_annotator) for r in results.values()),
        "stalled": sum(len(r.stalled) for r in results.values()),
        "reopened": sum(len(r.reopened) for r in results.values()),
    }
