"""Importing existing annotations into a project: as gold (known answers) or as votes of an "imported" annotator.

Matching an entry to an image: by content first. An entry that carries the image's SHA-256 (COCO files do: our
own exports write `images[].sha256`), or whose reference is one, matches the project's image with those bytes
and nothing else; file names are never consulted for it (our exports name files by image id, so `train/000/2.jpg`
names image 2, not the image crawled as `crawl/2.jpg`). Only an entry with no hash falls back to its path, file
name or stem (YOLO, VOC, CSV by name), and every such match is reported (`ImportResult.matched_by_name`,
`name_matches`); `by_name=False` refuses the fallback (those entries count as unmatched).

`annotations_import` matches each parsed entry to an image of the project, turns it into the project's answer
(verify: yes for the candidate categories the entry names, no for the others; classify: its one category; boxes:
its boxes, converted to pixels, each with its category in detection projects) and writes them all in one
transaction, or nothing: any bad entry fails the import and every problem is reported (`ImportResult.errors`).
Entries naming no image of the project are counted as unmatched, not errors. Re-importing the same file is a
no-op (votes already there are matched, not created again).

Imported votes come from one inactive user per source name (`imported-<name>`, marked by the IMPORT_GROUP, a
prefix sign-up refuses); they are ordinary votes, so the
quality engine estimates that annotator's reliability like anyone else's (a re-aggregation is enqueued).
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils.translation import gettext as _

from annotate.exceptions import ServiceError
from labeling.models import Annotation, Category, ImageSource, Item, Project
from labeling.services.annotations import answer_validate
from labeling.services.imports.parsers import Entry, Parsed, SourceError, WrongFormat, parse
from labeling.services.quality import gold_set, items_reevaluate

MODES = ("gold", "votes")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


@dataclass
class ImportResult:
    matched: int = 0
    created: int = 0
    unmatched: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    unmatched_refs: list[str] = field(default_factory=list)
    matched_by_name: int = 0
    name_matches: list[dict[str, object]] = field(default_factory=list)  # {"entry", "ref", "image"}, reported

    def summary(self) -> dict[str, object]:
        return {"matched": self.matched, "created": self.created, "unmatched": self.unmatched, "errors": self.errors,
                "matched_by_name": self.matched_by_name}  # fmt: skip


class ImportFailed(ServiceError):
    """Raised inside the transaction to roll everything back; carries the full result."""

    def __init__(self, result: ImportResult) -> None:
        super().__init__(f"{len(result.errors)} bad entr{'ies' if len(result.errors) != 1 else 'y'}; nothing imported.",
                         code="import_failed")  # fmt: skip
        self.result = result


class _ImageIndex:
    """The project's images by SHA-256, and separately by source path, file name and stem (the fallback; a name
    shared by two images is ambiguous)."""

    def __init__(self, project: Project) -> None:
        self.by_sha: dict[str, int] = {}
        self.by_name: dict[str, set[int]] = defaultdict(set)
        rows = ImageSource.objects.filter(project=project).values_list("image_id", "source_uri", "image__sha256")
        for image_id, uri, sha in rows:
            self.by_sha[sha] = image_id
            p = PurePosixPath(uri.split("?")[0])
            for key in {uri, p.as_posix(), p.name, p.stem}:
                if key:
                    self.by_name[key].add(image_id)

    def find(self, entry: Entry, *, by_name: bool = True) -> tuple[int | None, str, bool]:
        """(image id or None, a problem, whether the match is by name)."""
        sha = entry.sha256 or (entry.ref.lower() if _SHA256.match(entry.ref.lower()) else "")
        if sha:
            return self.by_sha.get(sha), "", False
        if not by_name:
            return None, "", False
        ref = entry.ref
        p = PurePosixPath(ref.replace("\\", "/"))
        for key in (ref, p.as_posix(), p.name, p.stem):
            ids = self.by_name.get(key)
            if ids:
                if len(ids) > 1:
                    return None, f"{ref!r} names {len(ids)} images", True
                return next(iter(ids)), "", True
        return None, "", False


IMPORT_GROUP = "imported-source"  # marks import accounts: sign-up never puts anyone in it


def _source_name_check(name: str) -> None:
    if not _NAME.match(name or ""):
        raise ServiceError("The source name is 1-40 letters, digits, '.', '_' or '-'.", code="invalid_source_name")


def imported_annotator(name: str):
    """The inactive user whose votes are those of an imported source (it can never log in).

    The account is recognised by what no sign-up can create: membership of the IMPORT_GROUP, or (accounts made
    before the group existed) an inactive account without a usable password. Sign-up also refuses the
    `imported-` prefix (annotate/usernames.py). An existing account of that name that is neither, e.g. a person
    who signed up before the prefix was reserved, is refused: it never receives imported votes."""
    _source_name_check(name)
    group, _created = Group.objects.get_or_create(name=IMPORT_GROUP)
    user, created = get_user_model().objects.get_or_create(username=f"imported-{name}", defaults={"is_active": False})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    elif not user.groups.filter(pk=group.pk).exists() and (user.is_active or user.has_usable_password()):
        raise ServiceError(
            f"The account {user.username!r} belongs to a person, not to an import; choose another source name.",
            code="source_name_taken",
            status_code=409,
        )
    user.groups.add(group)
    return user


def _answers(project: Project, entry: Entry, items: list[Item], names: dict[str, int]) -> list[tuple[Item, dict]]:
    """(item, answer) pairs for one matched entry; ServiceError if the entry does not fit the project."""
    unknown = sorted(n for n in entry.labels if n not in names)
    if unknown:
        raise ServiceError(f"unknown categor{'ies' if len(unknown) > 1 else 'y'} {', '.join(map(repr, unknown))}")
    task = project.task_type
    if task == Project.TaskType.VERIFY:
        wanted = {names[n] for n in entry.labels}
        return [(i, {"label": int(i.category_id in wanted)}) for i in items if i.category_id is not None]
    if task == Project.TaskType.CLASSIFY:
        if len(entry.labels) > 1:
            raise ServiceError(f"a classify image has one label, not {len(entry.labels)}")
        category = names[next(iter(entry.labels))] if entry.labels else None
        return [(i, {"category": category}) for i in items]
    out = []
    for item in items:
        img = item.image
        boxes: list[list] = []
        for b in entry.boxes:
            if item.category_id is not None and names[b.label] != item.category_id:
                continue
            x, y, w, h = b.x, b.y, b.w, b.h
            if entry.normalised:
                x, y, w, h = (
                    (b.x - b.w / 2) * img.width,
                    (b.y - b.h / 2) * img.height,
                    b.w * img.width,
                    b.h * img.height,
                )
            x0, y0 = max(0.0, x), max(0.0, y)
            x1, y1 = min(float(img.width), x + w), min(float(img.height), y + h)
            box = [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)]
            boxes.append([*box, names[b.label]] if project.detects else box)  # detection keeps each box's class
        out.append((item, {"boxes": boxes}))
    return out


def _write(project: Project, item: Item, answer: dict, *, mode: str, user) -> bool:
    """Store one answer; True when something was created (False: the same vote is already there)."""
    label, clean = answer_validate(project=project, item=item, answer=answer)
    if mode == "gold":
        if project.task_type == Project.TaskType.BOXES:
            raise ServiceError("box projects take imported boxes as votes, not as gold")
        if item.is_gold and item.gold_label == label:
            return False
        gold_set(item=item, label=label)
        return True
    existing = Annotation.objects.filter(item=item, user=user).first()
    if existing is not None:
        if existing.label == label and existing.answer == clean:
            return False
        raise ServiceError(f"{user.username} already voted differently on item {item.pk}")
    Annotation.objects.create(item=item, user=user, submission_id=uuid.uuid4(), label=label, answer=clean,
                              client_info={"imported": True})  # fmt: skip
    return True


def annotations_import(
    *,
    project: Project,
    fmt: str,
    files: dict[str, bytes],
    mode: str = "votes",
    source_name: str = "imported",
    by_name: bool = True,
) -> ImportResult:
    """Import parsed annotations as `mode` ("gold" or "votes"). All or nothing: raises ImportFailed (whose
    `result` lists every bad entry) when any entry is bad; SourceError-style ServiceError when the source is."""
    if mode not in MODES:
        raise ServiceError(f"Import as one of {', '.join(MODES)}.", code="invalid_mode")
    try:
        parsed: Parsed = parse(fmt, files)
    except WrongFormat as exc:
        raise ServiceError(_wrong_format_text(exc), code="wrong_format") from exc
    except SourceError as exc:
        raise ServiceError(str(exc), code="invalid_source") from exc
    if mode == "votes":
        _source_name_check(source_name)
    result = ImportResult()
    problems: list[tuple[int, str, str]] = [(e.order, e.where, e.message) for e in parsed.errors]  # file order
    names = dict(Category.objects.filter(project=project).values_list("name", "id"))
    index = _ImageIndex(project)
    with transaction.atomic():
        items_by_image: dict[int, list[Item]] = defaultdict(list)
        matched: list[tuple[Entry, int]] = []
        for entry in parsed.entries:
            image_id, problem, named = index.find(entry, by_name=by_name)
            if named and image_id is not None:
                result.matched_by_name += 1
                result.name_matches.append({"entry": entry.where, "ref": entry.ref, "image": image_id})
            if problem:
                problems.append((entry.order, entry.where, problem))
            elif image_id is None:
                result.unmatched += 1
                result.unmatched_refs.append(entry.ref)
            else:
                matched.append((entry, image_id))
        # The import account exists only with votes to hold: 0 matched creates none (a failed import rolls back).
        user = imported_annotator(source_name) if mode == "votes" and matched else None
        image_ids = {i for _, i in matched}
        locked = Item.objects.select_for_update().select_related("image", "project").filter(project=project)
        for item in locked.filter(image_id__in=image_ids).order_by("id"):
            items_by_image[item.image_id].append(item)
        touched: set[int] = set()
        for entry, image_id in matched:
            result.matched += 1
            try:
                for item, answer in _answers(project, entry, items_by_image[image_id], names):
                    if _write(project, item, answer, mode=mode, user=user):
                        result.created += 1
                        touched.add(item.pk)
            except ServiceError as exc:
                problems.append((entry.order, entry.where, exc.message))
        result.errors = [{"entry": where, "message": message} for _, where, message in sorted(problems)]
        if result.errors:
            result.created = 0
            raise ImportFailed(result)
        if mode == "votes" and touched:
            items_reevaluate(project=project, item_ids=touched)
            _enqueue_reaggregate(project.pk)
    return result


def _wrong_format_text(exc: WrongFormat) -> str:
    text = {
        "coco": _("This file is JSON (a COCO file?), not %(chosen)s: choose its format, or upload the %(chosen)s "
                  "file."),
        "json": _("This file is JSON, not %(chosen)s: choose its format, or upload the %(chosen)s file."),
        "voc": _("This file is XML (a Pascal VOC file?), not %(chosen)s: choose its format, or upload the %(chosen)s "
                 "file."),
    }[exc.found]  # fmt: skip
    return text % {"chosen": exc.chosen}


def _enqueue_reaggregate(project_id: int) -> None:
    """The imported annotator's reliability comes from a full re-aggregation, after commit."""
    from labeling.tasks.quality import project_reaggregate_task

    transaction.on_commit(lambda: project_reaggregate_task.delay(project_id))
