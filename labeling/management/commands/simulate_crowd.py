"""`manage.py simulate_crowd --project SLUG --volunteers N [--accuracy 0.8] [--spammers K] [--truth FILE]
[--seed S] [--batch B] [--json]`.

Simulated volunteers (real users with the volunteer role, named sim-<slug>-<i>) label through the same
services as the web (`next_items`, `annotation_submit`) until no volunteer gets work. Honest volunteers give
the true answer with probability --accuracy; the K spammers (in addition to the N volunteers) answer at random
or always "yes"/the first category. Truth: --truth CSV `image,label` (image = source path relative to the
ingested folder, or SHA-256; label = category name), else gold answers, else the image's ingest category
(the sub-folder); items with none get a hidden truth drawn once from the seed. With --json the last line is
`{"answers": n, "items_done": n, "volunteers": n}`.
"""

from __future__ import annotations

import csv
import json
import random
import uuid
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.exceptions import ServiceError
from annotate.roles import Role, role_assign
from labeling.models import Category, ImageSource, Item, Project
from labeling.services.annotations import annotation_submit
from labeling.services.assignment import next_items


class Command(BaseCommand):
    help = "Simulate a crowd of volunteers (with optional spammers) labeling a project until it needs no votes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True)
        parser.add_argument("--volunteers", type=int, required=True)
        parser.add_argument("--accuracy", type=float, default=0.8)
        parser.add_argument("--spammers", type=int, default=0)
        parser.add_argument("--truth", type=Path, default=None)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--batch", type=int, default=12, help="items requested per call")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project {options['project']!r}")
        if options["volunteers"] < 1 or options["spammers"] < 0:
            raise CommandError("--volunteers must be at least 1 and --spammers at least 0")
        if not 0.0 <= options["accuracy"] <= 1.0:
            raise CommandError("--accuracy must be between 0 and 1")
        rng = random.Random(options["seed"])
        self.categories = list(Category.objects.filter(project=project).values_list("id", flat=True))
        truth = self._truth(project, options["truth"], rng)
        crowd = self._crowd(project, options["volunteers"], options["spammers"])
        answers = 0
        max_rounds = Item.objects.filter(project=project).count() * len(crowd) + 1  # each round answers >= 1
        for _ in range(max_rounds):
            answered_this_round = 0
            for user, kind in crowd:
                for item in next_items(user=user, project=project, n=options["batch"]):
                    answer = self._answer(project, item, truth, kind, options["accuracy"], rng)
                    try:
                        annotation_submit(
                            user=user,
                            project=project,
                            item_id=item.id,
                            submission_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                            answer=answer,
                            time_spent_ms=rng.randint(600, 5000),
                            client_info={"simulated": kind},
                        )
                    except ServiceError as exc:
                        self.stderr.write(f"answer refused for item {item.id}: {exc.message}")
                        continue
                    answers += 1
                    answered_this_round += 1
            if answered_this_round == 0:
                break
        items = Item.objects.filter(project=project, is_gold=False)
        summary = {
            "answers": answers,
            "items_done": items.exclude(status=Item.Status.OPEN).count(),
            "items_open": items.filter(status=Item.Status.OPEN).count(),
            "volunteers": len(crowd),
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(self.style.SUCCESS(
                f"{summary['answers']} answers by {summary['volunteers']} simulated volunteers; "
                f"{summary['items_done']} items done, {summary['items_open']} still open."
            ))  # fmt: skip

    # -- crowd and truth -------------------------------------------------------------------------
    def _crowd(self, project: Project, honest: int, spammers: int) -> list[tuple[Any, str]]:
        users = []
        for i in range(honest + spammers):
            kind = "honest" if i < honest else ("random" if (i - honest) % 2 == 0 else "yes")
            user, created = get_user_model().objects.get_or_create(
                username=f"sim-{project.slug}-{i}"[:150], defaults={"email": f"sim{i}@simulated.invalid"}
            )
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
                role_assign(user=user, role=Role.VOLUNTEER)
            project.members.add(user)  # invite-only projects too
            users.append((user, kind))
        return users

    def _truth(self, project: Project, truth_file: Path | None, rng: random.Random) -> dict[int, Any]:
        """item id -> the true answer's label (verify 0/1, classify category id or -1, boxes: boxes list)."""
        image_category: dict[int, int] = {}
        if truth_file is not None:
            image_category = self._truth_file(project, truth_file)
        else:
            for image_id, category_id in ImageSource.objects.filter(
                project=project, candidate_category__isnull=False
            ).values_list("image_id", "candidate_category_id"):
                image_category.setdefault(image_id, category_id)
        truth: dict[int, Any] = {}
        for item in Item.objects.filter(project=project).select_related("image").iterator():
            if item.is_gold and (item.gold_label is not None or item.gold_answer is not None):
                gold = item.gold_answer
                if project.task_type == "boxes":
                    truth[item.id] = gold.get("boxes", []) if isinstance(gold, dict) else (gold or [])
                else:
                    truth[item.id] = item.gold_label
            elif project.task_type == "boxes":
                w, h = item.image.width, item.image.height
                box = [round(w * 0.25, 2), round(h * 0.25, 2), round(w * 0.5, 2), round(h * 0.5, 2)]
                if project.detects:  # detection: the centre box carries the image's category
                    box.append(image_category.get(item.image_id) or (self.categories or [0])[0])
                truth[item.id] = [box]
            elif item.image_id in image_category:
                cat = image_category[item.image_id]
                truth[item.id] = int(item.category_id == cat) if project.task_type == "verify" else cat
            else:
                truth[item.id] = rng.choice([0, 1] if project.task_type == "verify" else self.categories or [-1])
        return truth

    def _truth_file(self, project: Project, path: Path) -> dict[int, int]:
        if not path.is_file():
            raise CommandError(f"truth file not found: {path}")
        by_name = dict(Category.objects.filter(project=project).values_list("name", "id"))
        by_uri = dict(ImageSource.objects.filter(project=project).values_list("source_uri", "image_id"))
        by_sha = dict(ImageSource.objects.filter(project=project).values_list("image__sha256", "image_id").distinct())
        result, unknown = {}, 0
        with path.open(newline="", encoding="utf-8-sig") as fh:
            for row in csv.DictReader(fh):
                key, label = (row.get("image") or "").strip(), (row.get("label") or "").strip()
                image_id = by_uri.get(key) or by_sha.get(key.lower())
                if image_id is None or label not in by_name:
                    unknown += 1
                    continue
                result[image_id] = by_name[label]
        if unknown:
            self.stderr.write(f"{unknown} truth rows matched no image or category of the project (ignored)")
        return result

    def _answer(self, project: Project, item: Item, truth: dict, kind: str, acc: float, rng: random.Random) -> dict:
        task = project.task_type
        true = truth.get(item.id)
        if task == "verify":
            if kind == "yes":
                return {"label": 1}
            if kind == "random":
                return {"label": rng.randint(0, 1)}
            return {"label": true if rng.random() < acc else 1 - true}
        if task == "classify":
            options = [*self.categories, None]
            if kind == "yes":
                return {"category": options[0]}
            if kind == "random" or true is None:
                return {"category": rng.choice(options)}
            true_answer = None if true == -1 else true
            if rng.random() < acc:
                return {"category": true_answer}
            return {"category": rng.choice([o for o in options if o != true_answer] or [true_answer])}
        w, h = item.image.width, item.image.height
        detect = project.detects  # detection boxes carry a category: [x, y, w, h, category]
        if kind != "honest" or rng.random() >= acc:
            x, y = rng.uniform(0, w * 0.5), rng.uniform(0, h * 0.5)
            box = [round(x, 2), round(y, 2), round(w * 0.3, 2), round(h * 0.3, 2)]
            return {"boxes": [[*box, rng.choice(self.categories)] if detect else box]}
        boxes = []
        for t in true or []:
            x, y, bw, bh = t[:4]
            dx, dy = rng.uniform(-0.02, 0.02) * w, rng.uniform(-0.02, 0.02) * h
            x2, y2 = min(w, max(0.0, x + dx)), min(h, max(0.0, y + dy))
            box = [round(x2, 2), round(y2, 2), round(min(bw, w - x2), 2), round(min(bh, h - y2), 2)]
            boxes.append([*box, t[4] if len(t) > 4 else self.categories[0]] if detect else box)
        return {"boxes": [b for b in boxes if b[2] >= 1 and b[3] >= 1]}
