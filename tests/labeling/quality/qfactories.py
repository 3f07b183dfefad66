"""Quality-test data built through the services the web uses (project_create, next_items, annotation_submit)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from labeling.models import Category, Image, ImageSource, Item, Lease, Project
from labeling.services.annotations import annotation_submit
from labeling.services.projects import project_create
from tests.helpers.images import jpeg_bytes


def real_image(seed: int) -> Image:
    data = jpeg_bytes(40, 30, seed=seed)
    sha = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(sha256=sha).first()
    if existing:
        return existing
    name = default_storage.save(f"images/{sha[:2]}/{sha}.jpg", ContentFile(data))
    return Image.objects.create(
        sha256=sha, file=name, width=40, height=30, format="JPEG", mode="RGB", size_bytes=len(data)
    )


def make_project(
    *,
    slug: str,
    owner=None,
    task_type: str = "verify",
    box_mode: str = "single",
    categories: tuple[str, ...] = ("bird",),
    n_items: int = 10,
    min_votes: int = 3,
    max_votes: int = 7,
    target: float = 0.95,
    seed0: int = 1000,
    audit_rate: float = 0.0,
) -> tuple[Project, list[Item]]:
    """A project with n_items items (verify: all of the first category), each on its own real JPEG. No audit
    items unless asked (`audit_rate`): most tests look at when an item stops, and an audit item never stops early."""
    project = project_create(
        slug=slug,
        task_type=task_type,
        box_mode=box_mode,
        owner=owner,
        min_votes=min_votes,
        max_votes=max_votes,
        confidence_target=target,
        gold_rate=0.0,
        audit_rate=audit_rate,
        categories=[{"name": c} for c in categories],
    )
    cat = Category.objects.filter(project=project).order_by("id").first()
    items = []
    for i in range(n_items):
        img = real_image(seed0 + i)
        ImageSource.objects.create(project=project, image=img, source_uri=f"test://{i}", candidate_category=cat)
        items.append(
            Item.objects.create(
                project=project,
                image=img,
                category=cat if task_type == "verify" else None,
                needed_votes=min_votes,
            )
        )
    return project, items


def answer_for(project: Project, label: int) -> dict:
    if project.task_type == Project.TaskType.VERIFY:
        return {"label": label}
    return {"category": None if label == -1 else label}


def cast(user, item: Item, label: int, *, time_spent_ms: int = 2000):
    """One vote through annotation_submit (the web's path) on an item leased to the user for the occasion."""
    Lease.objects.update_or_create(item=item, user=user, defaults={"expires_at": timezone.now() + timedelta(minutes=5)})
    return annotation_submit(
        user=user,
        project=item.project,
        item_id=item.pk,
        submission_id=uuid.uuid4(),
        answer=answer_for(item.project, label),
        time_spent_ms=time_spent_ms,
    )


def join(project: Project, users) -> None:
    """The users become known annotators of the project (a score row, as their first vote makes): an item is
    routed to review for want of annotators only once every known one has answered it (issue 22, finding 14),
    so tests of "keeps asking" declare the crowd that could still answer."""
    from labeling.services.quality.rules import score_for

    for user in users:
        score_for(project=project, user_id=user.pk)
