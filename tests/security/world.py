"""Two projects owned by different researchers, with users of every role, built through the services.

Project A belongs to `res` (reviewer `rev`, member volunteer `vol`); project B belongs to `res_b` and is
invite-only, so none of A's people may see anything of B. Every user-visible string of B carries the
marker SECRETB: a response to one of A's people that contains it has leaked B's data.
Objects of the capabilities that land later (dataset versions, training runs ...) are added when their
service exists; `World.objects` maps a kind ("project", "category", "item", ...) to B's instance.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from annotate.roles import Role, role_assign
from labeling.models import Annotation, Image, ImageSource, IngestBatch, IngestEntry, Item, Lease, Project, Skip
from labeling.services.items import items_create_from_sources
from labeling.services.projects import category_upsert, project_create
from tests.helpers.images import jpeg_bytes

MARKER = "SECRETB"
ROLES = ("volunteer", "reviewer", "researcher", "admin")


def password_of(username: str) -> str:
    return f"pw-{username}-123"


def user_create(username: str, role: str) -> Any:
    user = get_user_model().objects.create_user(
        username=username, email=f"{username}@example.org", password=password_of(username)
    )
    role_assign(user=user, role=Role(role))
    return user


def image_create(seed: int) -> Image:
    data = jpeg_bytes(64, 48, seed=seed)
    sha = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(sha256=sha).first()
    if existing:
        return existing
    name = default_storage.save(f"images/{sha[:2]}/{sha}.jpg", ContentFile(data))
    return Image.objects.create(
        sha256=sha, file=name, thumbnail=name, width=64, height=48, format="JPEG", mode="RGB", size_bytes=len(data)
    )


@dataclass
class ProjectObjects:
    project: Project
    objects: dict[str, Any] = field(default_factory=dict)


def project_populate(
    *,
    slug: str,
    name: str,
    owner: Any,
    reviewer: Any,
    member: Any,
    annotator: Any,
    seed: int,
    texts: dict | None = None,
) -> ProjectObjects:
    """A verify project with 2 categories, an ingest batch, 4 images and items, answers, a lease, a skip."""
    texts = texts or {}
    project = project_create(
        slug=slug,
        name=texts.get("project_name", name),
        owner=owner,
        instructions=texts.get("instructions", f"Instructions of {name}"),
        visibility=Project.Visibility.INVITE,
        min_votes=1,
        max_votes=3,
    )
    project.reviewers.add(reviewer)
    project.members.add(member, annotator)
    cat1 = category_upsert(
        project=project, name=texts.get("category_name", f"{name} cat one"),
        definition=texts.get("category_definition", f"definition of {name} one"), wnid="n00000001",
    )  # fmt: skip
    cat2 = category_upsert(project=project, name=f"{name} cat two", definition=f"definition of {name} two")
    batch = IngestBatch.objects.create(
        project=project, kind=IngestBatch.Kind.FOLDER, source=texts.get("batch_source", f"/data/{name}"),
        default_category=cat1, created_by=owner, status=IngestBatch.Status.DONE, total=4, processed=4, ingested=4,
    )  # fmt: skip
    images = [image_create(seed + i) for i in range(4)]
    for i, img in enumerate(images):
        ImageSource.objects.create(
            project=project, image=img, batch=batch, source_uri=texts.get("source_uri", f"{name}/img{i}.jpg"),
            query=f"{name} query", candidate_category=cat1 if i < 2 else cat2, license="CC-BY",
            attribution=texts.get("attribution", f"{name} photographer"),
        )  # fmt: skip
        entry_key = f"{name}/img{i}.jpg"
        IngestEntry.objects.create(
            batch=batch, key=entry_key, key_hash=hashlib.sha256(entry_key.encode()).hexdigest(),
            status=IngestEntry.Status.INGESTED, image=img, category=cat1,
        )  # fmt: skip
    items_create_from_sources(project=project, batch=batch)
    items = list(Item.objects.filter(project=project).order_by("id"))
    done, gold, done2, open_item = items[0], items[1], items[2], items[3]
    for item in (done, done2):
        Annotation.objects.create(item=item, user=annotator, label=1, submission_id=uuid.uuid4(), time_spent_ms=1500)
        Item.objects.filter(pk=item.pk).update(
            status=Item.Status.DONE, votes_count=1, label=1, confidence=0.97, posterior={"0": 0.03, "1": 0.97}
        )
    Item.objects.filter(pk=gold.pk).update(is_gold=True, gold_label=1)
    lease = Lease.objects.create(item=open_item, user=annotator, expires_at=timezone.now() + timedelta(minutes=10))
    skip = Skip.objects.create(item=gold, user=annotator)
    done.refresh_from_db()
    objects: dict[str, Any] = {
        "project": project, "category": cat1, "item": done, "image": images[0], "batch": batch,
        "entry": batch.entries.first(), "source": ImageSource.objects.filter(project=project).first(),
        "annotation": Annotation.objects.get(item=done), "lease": lease, "skip": skip, "user": annotator,
    }  # fmt: skip
    objects.update(_later_capabilities(project, owner))
    return ProjectObjects(project=project, objects=objects)


def _later_capabilities(project: Project, owner: Any) -> dict[str, Any]:
    """Objects of capabilities written in parallel: built through their service when it exists."""
    found: dict[str, Any] = {}
    errors: list[str] = []
    try:
        from labeling.services.datasets import dataset_version_create

        version = dataset_version_create(project=project, created_by=owner, split=(1.0, 0.0, 0.0), seed=1)
        found["version"] = version
    except Exception as exc:
        errors.append(f"dataset_version_create: {exc!r}")
    if "version" in found:
        try:
            from labeling.services.exports.runner import dataset_export_request, dataset_export_run

            export = dataset_export_request(version=found["version"], fmt="csv", created_by=owner, enqueue=False)
            found["export"] = dataset_export_run(export_id=export.id) or export
        except Exception as exc:
            errors.append(f"dataset_export: {exc!r}")
        try:
            from training.services.runs import run_create

            found["run"] = run_create(version=found["version"], created_by=owner, enqueue=False)
        except Exception as exc:
            errors.append(f"run_create: {exc!r}")
    if errors:
        found["_errors"] = errors
    return found


@dataclass
class World:
    users: dict[str, Any]
    a: ProjectObjects
    b: ProjectObjects

    def person(self, role: str) -> Any:
        return self.users[role]


def world_build(*, texts_a: dict | None = None) -> World:
    users = {
        "volunteer": user_create("vol", "volunteer"),
        "reviewer": user_create("rev", "reviewer"),
        "researcher": user_create("res", "researcher"),
        "admin": user_create("adm", "admin"),
        "volunteer_b": user_create("volb", "volunteer"),
        "reviewer_b": user_create("revb", "reviewer"),
        "researcher_b": user_create("resb", "researcher"),
    }
    a = project_populate(
        slug="proj-a", name="Alpha", owner=users["researcher"], reviewer=users["reviewer"],
        member=users["volunteer"], annotator=users["volunteer"], seed=100, texts=texts_a,
    )  # fmt: skip
    b = project_populate(
        slug="proj-b-secretb", name=f"Bravo {MARKER}", owner=users["researcher_b"], reviewer=users["reviewer_b"],
        member=users["volunteer_b"], annotator=users["volunteer_b"], seed=200,
    )  # fmt: skip
    return World(users=users, a=a, b=b)


def fingerprint(project: Project) -> dict[str, Any]:
    """Everything of a project that a refused request must leave unchanged."""
    from django.apps import apps
    from django.core.exceptions import FieldError
    from django.forms.models import model_to_dict

    project = Project.objects.get(pk=project.pk)
    out: dict[str, Any] = {"project": model_to_dict(project, exclude=["owners", "reviewers", "members"])}
    out["people"] = sorted(
        (rel, u)
        for rel in ("owners", "reviewers", "members")
        for u in getattr(project, rel).values_list("id", flat=True)
    )
    models = [*apps.get_app_config("labeling").get_models(), *apps.get_app_config("training").get_models()]
    for model in models:
        for path in ("project", "item__project", "batch__project", "version__project", "run__version__project",
                     "export__version__project", "run__project", "query__run__project"):  # fmt: skip
            try:
                qs = model.objects.filter(**{path: project})
                rows = [repr(sorted(r.items())) for r in qs.values()]
            except (FieldError, ValueError):  # this model has no such relation (ValueError: a `run` of another kind)
                continue
            out[f"{model.__name__}:{path}"] = sorted(rows)
            break
    return out
