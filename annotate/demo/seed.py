"""Seed the demo so every role has real work on first open (`manage.py demo`, `make demo`).

Three projects from one ImageFolder-style set (annotate/demo/photos.py by default, or the user's folder):
a verify grid, a classify and a detection (boxes) project, each with gold and practice (qualification) items
for newcomers. A simulated crowd answers through the same services as the web (`next_items`,
`annotation_submit`): five honest volunteers and one careless one, right seven times in ten at a human pace (the
rules do not block him on their own; the reviewer finds him on the annotator scores page). Disputed items
reach max votes and wait in review; a researcher sent two more. The classify project gets a dataset version,
a small CNN trained on it on the CPU, and that model's predictions on the unfinished items.

Every write goes through the services researchers, volunteers and workers use; the seed only decides what.
"""

from __future__ import annotations

import csv
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.test import override_settings

from annotate.conf import options
from annotate.exceptions import ServiceError
from annotate.roles import Role, role_assign
from labeling.models import Category, Image, ImageSource, IngestBatch, Item, Project

log = logging.getLogger(__name__)

VERIFY, CLASSIFY, BOXES = "demo-verify", "demo-classify", "demo-boxes"
PROJECT_SLUGS = (VERIFY, CLASSIFY, BOXES)
HONEST = ("crowd-ana", "crowd-ben", "crowd-chen", "crowd-dana", "crowd-eli")
# Careless, not a bot: right seven times in ten, at a human pace, never one answer for everything. The online
# rules (labeling/services/quality/triggers.py) leave him be (his agreement's optimistic bound stays above
# theirs on the few dozen answers he gives); the annotators page's estimated accuracy shows him as the weakest:
# the reviewer's volunteer to find and block.
CARELESS = "crowd-fred"
ACCURACY = {"crowd-ana": 0.97, "crowd-ben": 0.95, "crowd-chen": 0.94, "crowd-dana": 0.92, "crowd-eli": 0.9,
            CARELESS: 0.7}  # fmt: skip
QUALIFICATION = 3  # practice items every newcomer answers first (they learn the right answer after each)
CROWD_SHARE = 0.75  # of the items, labelled by the simulated crowd; the rest is left open for the demo's people


@dataclass
class SeedReport:
    projects: list[str] = field(default_factory=list)
    images: int = 0
    near_duplicates: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    in_review: int = 0
    version_id: int | None = None
    run_id: int | None = None
    run_status: str = ""
    predicted: int = 0
    voter: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class SeedSource:
    """What to seed from: ImageFolder-style folders and what is known to be true about them."""

    classify_dir: Path  # <class>/<image>
    verify_dir: Path  # <candidate class>/<image> (may hold misfiled images)
    categories: list[dict[str, Any]]  # name, definition, wnid
    truth: dict[str, str]  # "<folder>/<file>" -> true class, for both dirs
    boxes_dir: Path | None = None
    boxes: dict[str, list[list[Any]]] = field(default_factory=dict)  # file -> [[x, y, w, h, category]]
    box_categories: tuple[str, ...] = ()


def source_default(root: Path, *, per_class: int) -> SeedSource:
    """The bundled photos (rendered once into root)."""
    from annotate.demo import photos

    if not (root / "categories.csv").exists():
        photos.render(root, per_class=per_class)
    truth = {r["image"]: r["label"] for r in csv.DictReader((root / "truth.csv").open())}
    boxes: dict[str, list[list[Any]]] = {}
    for r in csv.DictReader((root / "boxes.csv").open()):
        boxes.setdefault(r["file"], []).append([float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"]),
                                                r["category"]])  # fmt: skip
    categories = [{"name": p.key, "definition": p.definition, "wnid": p.wnid} for p in photos.PHOTOS]
    return SeedSource(
        classify_dir=root / "images", verify_dir=root / "verify", categories=categories, truth=truth,
        boxes_dir=root / "boxes", boxes=boxes, box_categories=photos.BOX_CATEGORIES,
    )  # fmt: skip


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}


def source_folder(folder: Path) -> SeedSource:
    """The user's ImageFolder-style folder (<class>/<image>): its folders are the classes and the truth; the
    boxes project gets the same images with the classes as box categories and no crowd history (nobody knows
    where the objects are)."""
    folder = folder.expanduser().resolve()
    if not folder.is_dir():
        raise ServiceError(f"{folder} is not a folder.", code="invalid_demo_images")
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    truth = {
        f"{c}/{f.name}": c
        for c in classes
        for f in sorted((folder / c).iterdir())
        if f.suffix.lower() in IMAGE_SUFFIXES
    }
    if len(classes) < 2 or not truth:
        raise ServiceError(
            f"{folder} needs at least two class folders with images in them (ImageFolder layout: CLASS/IMAGE).",
            code="invalid_demo_images",
        )
    return SeedSource(
        classify_dir=folder, verify_dir=folder, categories=[{"name": c} for c in classes], truth=truth,
        boxes_dir=folder, box_categories=tuple(classes),
    )  # fmt: skip


# -- the seed ----------------------------------------------------------------------------------------------------
def demo_seed(*, source: SeedSource, say: Callable[[str], None] = log.info, train: bool = True) -> SeedReport:
    """Seed the three demo projects (a project that exists already is left as it is: re-running is safe)."""
    started = time.monotonic()
    report = SeedReport()
    owner = get_user_model().objects.filter(username="researcher").first()
    crowd = _crowd()
    specs = [
        (VERIFY, "verify", "single", source.categories, source.verify_dir,
         "Is this a crop of the named photo? Answer yes or no for each image of the grid."),
        (CLASSIFY, "classify", "single", source.categories, source.classify_dir,
         "Which photo is this image a crop of? Press the number key of the category."),
        (BOXES, "boxes", "detect", [{"name": n} for n in source.box_categories], source.boxes_dir,
         "Draw a box around the main object and choose its category."),
    ]  # fmt: skip
    for slug, task_type, box_mode, categories, folder, instructions in specs:
        if folder is None:
            continue
        report.projects.append(slug)
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            project = _project(slug, task_type, box_mode, categories, folder, instructions, owner)
            say(f"{slug}: {project.items.count()} items")
            _gold(project, source)
            report.answers[slug] = _crowd_answers(project, source, crowd)
            if report.answers[slug]:  # what the worker's periodic re-aggregation does: estimated accuracies
                from labeling.services.quality import project_reaggregate

                project_reaggregate(project_id=project.pk)
            say(f"{slug}: {report.answers[slug]} crowd answers")
        _people(project)
    classify = Project.objects.get(slug=CLASSIFY)
    _send_to_review(classify, owner)
    report.images = ImageSource.objects.filter(project__slug__in=PROJECT_SLUGS).values("image").distinct().count()
    report.near_duplicates = (
        Image.objects.filter(canonical__isnull=False, sources__project__slug__in=PROJECT_SLUGS).distinct().count()
    )
    report.in_review = Item.objects.filter(project__slug__in=PROJECT_SLUGS, status=Item.Status.REVIEW).count()
    if train:
        _model(classify, owner, report, say)
    report.seconds = time.monotonic() - started
    return report


def _crowd() -> list[Any]:
    users = []
    for username in (*HONEST, CARELESS):
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"email": f"{username}@demo.invalid"}
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            role_assign(user=user, role=Role.VOLUNTEER)
        users.append(user)
    return users


def _project(slug, task_type, box_mode, categories, folder, instructions, owner) -> Project:
    from labeling.services.ingestion import batch_create, batch_run
    from labeling.services.project_settings import project_update
    from labeling.services.projects import project_create

    project = project_create(
        slug=slug, task_type=task_type, box_mode=box_mode, name=slug.replace("-", " ").capitalize(),
        owner=owner, instructions=instructions, min_votes=3, max_votes=5, gold_rate=0.1,
        categories=categories,
    )  # fmt: skip
    project_update(project=project, qualification_size=QUALIFICATION)
    default = None
    if task_type == "boxes":  # box images sit at the top level of their folder, or in class folders
        default = None
    batch = batch_create(project=project, kind=IngestBatch.Kind.FOLDER, source=str(folder), default_category=default)
    batch = batch_run(batch_id=batch.pk)
    if batch.status != IngestBatch.Status.DONE:
        raise ServiceError(f"Ingesting {folder} failed: {batch.error}", code="demo_ingest_failed")
    return project


def _people(project: Project) -> None:
    """The demo's researcher owns and its reviewer reviews every demo project (also in a demo seeded before)."""
    from labeling.services.project_settings import project_people_update

    if get_user_model().objects.filter(username="researcher").exists():
        project_people_update(project=project, role="owners", username="researcher", add=True)
    if get_user_model().objects.filter(username="reviewer").exists():
        project_people_update(project=project, role="reviewers", username="reviewer", add=True)


def _truths(project: Project, source: SeedSource) -> dict[int, Any]:
    """item id -> its true answer: verify 0/1, classify a category id, boxes a list of [x, y, w, h, category]."""
    cats = dict(Category.objects.filter(project=project).values_list("name", "id"))
    true_class: dict[int, int] = {}
    for image_id, uri in ImageSource.objects.filter(project=project).values_list("image_id", "source_uri"):
        rel = "/".join(Path(uri).parts[-2:])
        if project.task_type == "boxes":
            name = Path(uri).name
            if name in source.boxes:
                true_class[image_id] = [[*b[:4], cats[b[4]]] for b in source.boxes[name]]
        elif rel in source.truth and source.truth[rel] in cats:
            true_class.setdefault(image_id, cats[source.truth[rel]])
    truth: dict[int, Any] = {}
    for item_id, image_id, category_id in Item.objects.filter(project=project).values_list(
        "id", "image_id", "category_id"
    ):
        if image_id not in true_class:
            continue
        if project.task_type == "verify":
            truth[item_id] = int(true_class[image_id] == category_id)
        else:
            truth[item_id] = true_class[image_id]
    return truth


def _gold(project: Project, source: SeedSource) -> None:
    """Every tenth item (by id) is gold with its known answer: practice for newcomers, checks for everybody."""
    from labeling.services.quality.gold import gold_boxes_set, gold_set

    truth = _truths(project, source)
    for item in Item.objects.filter(project=project).order_by("id")[::10]:
        if item.pk not in truth:
            continue
        if project.task_type == "boxes":
            gold_boxes_set(item=item, boxes=truth[item.pk])
        else:
            gold_set(item=item, label=truth[item.pk])


def _crowd_answers(project: Project, source: SeedSource, crowd: list[Any]) -> int:
    """The crowd labels three quarters of the items (the rest stay open for the demo's people): each member in
    turn asks `next_items` for a batch and posts it as the labeling page posts a grid, until no one gets work."""
    truth = _truths(project, source)
    if not truth:
        return 0
    rng = random.Random(project.slug)
    cats = list(Category.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    items = sorted(truth)
    gold = set(Item.objects.filter(project=project, is_gold=True).values_list("id", flat=True))
    crowd_items = [i for i in items if i in gold or rng.random() < CROWD_SHARE]
    for user in crowd:
        project.members.add(user)
    # No periodic re-aggregation while the history is written (the seed runs one at the end, in this process): a
    # worker's run landing at a moment that depends on the machine's speed judged the crowd on a part of its
    # answers, and the seeded statuses differed from run to run (the careless volunteer blocked, now and then).
    with override_settings(ANNOTATE={**options().as_dict(), "QUALITY_REAGGREGATE_EVERY": 0}):
        answers = _crowd_rounds(project, crowd, crowd_items, truth, cats, rng)
    return answers


def _crowd_rounds(project: Project, crowd: list[Any], crowd_items: list[int], truth: dict, cats: list[int],
                  rng: random.Random) -> int:  # fmt: skip
    from labeling.services.annotations import annotations_submit_batch
    from labeling.services.assignment import next_items

    answers = 0
    answered: dict[str, int] = {}  # answers given so far, per crowd member: the position in their error schedule
    for _ in range(len(crowd_items)):
        round_answers = 0
        for user in crowd:
            batch = next_items(user=user, project=project, n=8, only_ids=crowd_items)
            posted = [
                {"item_id": item.pk, "submission_id": uuid.UUID(int=rng.getrandbits(128), version=4),
                 "answer": _answer(project, item, truth.get(item.pk), _right(user.username, answered), cats, rng),
                 "time_spent_ms": rng.randint(1200, 6000), "client_info": {"simulated": "demo"}}
                for item in sorted(batch, key=lambda item: item.pk)  # the batch's gold sits at random positions
            ]  # fmt: skip
            if posted:
                results = annotations_submit_batch(user=user, project=project, answers=posted)
                round_answers += sum(r["ok"] for r in results)
        answers += round_answers
        if round_answers == 0:
            break
    return answers


def _right(username: str, answered: dict[str, int]) -> bool:
    """Whether this member's next answer is right: exactly their ACCURACY share of every run of answers, errors
    spread evenly (a coin per answer would let forty answers stray ten points from it, and the demo's careless
    volunteer could look as good as an honest one)."""
    k = answered.get(username, 0)
    answered[username] = k + 1
    accuracy = ACCURACY.get(username, 0.9)
    return int((k + 1) * accuracy + 0.5) - int(k * accuracy + 0.5) == 1


def _answer(project: Project, item: Item, true: Any, right: bool, cats: list[int], rng: random.Random) -> dict:
    if project.task_type == "verify":
        if true is None:
            return {"label": rng.randint(0, 1)}
        return {"label": true if right else 1 - true}
    if project.task_type == "classify":
        if true is None:
            return {"category": rng.choice(cats)}
        return {"category": true if right else rng.choice([c for c in cats if c != true])}
    w, h = item.image.width, item.image.height
    if true is None or not right:
        bw, bh = w * rng.uniform(0.2, 0.5), h * rng.uniform(0.2, 0.5)
        x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        return {"boxes": [[round(x, 1), round(y, 1), round(bw, 1), round(bh, 1), rng.choice(cats)]]}
    boxes = []
    for x, y, bw, bh, cat in true:  # a careful person's box: within a few pixels of the truth
        dx, dy = rng.uniform(-0.02, 0.02) * w, rng.uniform(-0.02, 0.02) * h
        x2, y2 = min(w - 1, max(0.0, x + dx)), min(h - 1, max(0.0, y + dy))
        boxes.append([round(x2, 1), round(y2, 1), round(min(bw, w - x2), 1), round(min(bh, h - y2), 1), cat])
    return {"boxes": boxes}


def _send_to_review(project: Project, owner: Any) -> None:
    """Two finished items a researcher doubts go to review (reason "sent by a researcher or reviewer")."""
    from labeling.services.curation import items_send_to_review

    if owner is None or Item.objects.filter(project=project, review_reason=Item.ReviewReason.CURATOR).exists():
        return
    ids = list(
        Item.objects.filter(project=project, status=Item.Status.DONE, is_gold=False)
        .order_by("confidence", "id")
        .values_list("id", flat=True)[:2]
    )
    if ids:
        items_send_to_review(project=project, item_ids=ids, user=owner)


def _model(project: Project, owner: Any, report: SeedReport, say: Callable[[str], None]) -> None:
    """A dataset version of what the crowd finished, a small CNN trained on it (CPU, seconds) and its
    predictions on the unfinished items (the model votes once enough checked items measure it)."""
    from labeling.models import DatasetVersion
    from labeling.services.datasets import dataset_version_create
    from training.models import TrainingRun
    from training.services.execute import run_execute
    from training.services.predictions import predictions_refresh
    from training.services.runs import run_create

    version = DatasetVersion.objects.filter(project=project).order_by("id").first()
    if version is None:
        version = dataset_version_create(project=project, created_by=owner, name="demo v1")
    report.version_id = version.pk
    say(f"{project.slug}: dataset version {version.pk} ({version.stats.get('images', 0)} images)")
    run = TrainingRun.objects.filter(version=version).order_by("id").first()
    if run is None:
        try:
            run = run_create(
                version=version, created_by=owner, architecture="small_cnn", enqueue=False,
                overrides={"epochs": 4, "batch_size": 32, "image_size": 32, "device": "cpu", "workers": 0},
            )  # fmt: skip
        except ServiceError as exc:
            say(f"no training run: {exc.message}")
            return
        run_execute(run_id=run.pk)
        run.refresh_from_db()
        if run.status == TrainingRun.Status.SUCCEEDED:
            result = predictions_refresh(run=run, project=project)
            report.predicted = int(result["predicted"])
            report.voter = result["voter_error"] or "the model votes"
        say(f"{project.slug}: training run {run.pk} {run.status}; {report.predicted} items predicted. {report.voter}")
    report.run_id, report.run_status = run.pk, run.status
