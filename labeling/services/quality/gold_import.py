"""Gold from files: read a CSV / JSON of known answers, match each entry to an item of the project, set it.

One service for the command (`import_gold`), the API and the researcher page. Entries are independent: a bad
entry is reported (line, image, reason, code) and never costs the good ones beside it.

Matching an entry's `image` (first kind that finds something wins):
  1. the image's SHA-256 (64 hex digits),
  2. a source URI the image was ingested from in this project (exact),
  3. the file name: the last path segment of such a source URI (without ?query / #fragment).
A near-duplicate's item is its cluster's (canonical image's) item. Verify projects have one item per
(image, category): an entry names the category when the image has items for several.

Labels: verify yes/no/1/0/true/false; classify a category name or id of the project (-1 = none);
boxes {"boxes": [[x, y, w, h], ...]} in original-image pixels (JSON only).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce

from annotate.bounded import BoundedError, CsvProblem, Limits, decode_text, read_csv, read_json
from annotate.db import UriFileName
from annotate.exceptions import ServiceError
from annotate.inputs import ascii_int
from labeling.models import Category, Image, ImageSource, Item, Project
from labeling.services.quality.gold import gold_boxes_set, gold_set

MAX_GOLD_FILE_BYTES = 5 * 1024 * 1024
MAX_GOLD_ENTRIES = 50_000
SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
YES, NO = {"yes", "y", "1", "true"}, {"no", "n", "0", "false"}
HEADER_WORDS = {"image", "sha256", "file", "filename", "uri", "source_uri"}
MAX_IMAGE_CHARS = 2000  # an image reference longer than this names nothing
LIMITS = Limits(max_bytes=MAX_GOLD_FILE_BYTES, max_rows=MAX_GOLD_ENTRIES, max_field_chars=MAX_IMAGE_CHARS)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class GoldEntry:
    """One known answer as read from a file or a request: `line` is the CSV line number, or the 1-based
    position in a JSON list. `label` for verify/classify (text or int), `boxes` for box projects."""

    line: int
    image: str
    label: Any = None
    boxes: Any = None
    category: str = ""
    unreadable: str = ""  # why the row could not be read (a CSV row over a limit): reported, the others import


@dataclass(frozen=True)
class GoldRowResult:
    """status: created (the item became gold), updated (it was gold with another answer), unchanged (same
    answer again), or error (then `reason` and `code` say why, and `item_id` is None unless it matched)."""

    line: int
    image: str
    status: str
    item_id: int | None = None
    reason: str = ""
    code: str = ""


@dataclass
class GoldImportResult:
    rows: list[GoldRowResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def errors(self) -> list[GoldRowResult]:
        return [r for r in self.rows if r.status == "error"]

    @property
    def matched(self) -> int:
        return sum(1 for r in self.rows if r.item_id is not None)

    @property
    def unmatched(self) -> int:
        return sum(1 for r in self.rows if r.code == "image_not_found")

    def summary(self) -> dict:
        """The documented JSON summary (README, `import_gold --json`, the API)."""
        return {
            "entries": len(self.rows),
            "matched": self.matched,
            "created": self.count("created"),
            "updated": self.count("updated"),
            "unchanged": self.count("unchanged"),
            "unmatched": self.unmatched,
            "errors": [{"line": r.line, "image": r.image, "reason": r.reason, "code": r.code} for r in self.errors],
        }


class _RowError(Exception):
    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


# ---- reading files ---------------------------------------------------------------------------------------


def gold_entries_read(*, data: bytes, filename: str = "") -> list[GoldEntry]:
    """Entries of a gold file: JSON (a list of objects, or {"gold": [...]}) when it is named .json or looks
    like JSON, else CSV `image,label[,category]` with an optional header. Read through annotate.bounded (size,
    depth, number and field limits). A file that cannot be read at all is a ServiceError; an entry with a
    missing field, or a CSV row that cannot be read, still comes back (and fails on its own in the import)."""
    try:
        text = decode_text(data, LIMITS, "The gold file")
        if filename.lower().endswith(".json") or text.lstrip().startswith(("[", "{")):
            return gold_entries_from_json(read_json(text, LIMITS, "The gold file"))
        entries = []
        for row in read_csv(text, LIMITS):
            if isinstance(row, CsvProblem):
                entries.append(GoldEntry(line=row.line, image="", unreadable=row.message))
                continue
            cells = [c.strip() for c in row.cells]
            if not any(cells):
                continue
            if not entries and row.line == 1 and cells[0].lower() in HEADER_WORDS:
                continue
            entries.append(
                GoldEntry(
                    line=row.line,
                    image=cells[0],
                    label=cells[1] if len(cells) > 1 else None,
                    category=cells[2] if len(cells) > 2 else "",
                )
            )
            _check_size(len(entries))
        return entries
    except BoundedError as exc:
        code = {"too_large": "too_large", "too_many_entries": "too_many_entries"}.get(exc.code, "invalid_file")
        message = exc.message if code != "too_large" else "The gold file is larger than 5 MB."
        raise ServiceError(message, code=code) from exc


def gold_entries_from_json(parsed: Any) -> list[GoldEntry]:
    """Entries from parsed JSON: [{"image", "label" | "boxes", "category"?}, ...] or {"gold": [...]}."""
    if isinstance(parsed, dict):
        parsed = parsed.get("gold")
    if not isinstance(parsed, list):
        raise ServiceError(
            'Gold JSON is a list of {"image": ..., "label" or "boxes": ...} objects.', code="invalid_file"
        )
    _check_size(len(parsed))
    entries = []
    for number, raw in enumerate(parsed, start=1):
        if not isinstance(raw, dict):
            entries.append(GoldEntry(line=number, image="", label=None))  # reported by the import
            continue
        image, category = raw.get("image"), raw.get("category")
        entries.append(
            GoldEntry(
                line=number,
                image=image.strip() if isinstance(image, str) else "" if image is None else _scalar_text(image),
                label=raw.get("label"),
                boxes=raw.get("boxes"),
                category=category.strip() if isinstance(category, str) else _scalar_text(category),
            )
        )
    return entries


def _scalar_text(value: Any) -> str:
    """A number given where a text is expected, as text; "" for anything else (a list, a dict, a huge int)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 10**30:
        return str(value)
    return ""


def _usable_key(image: str) -> bool:
    """An image reference that may reach the database: no control character (PostgreSQL refuses NUL), bounded."""
    return bool(image) and len(image) <= MAX_IMAGE_CHARS and not _CONTROL.search(image)


def _check_size(n: int) -> None:
    if n > MAX_GOLD_ENTRIES:
        raise ServiceError(f"At most {MAX_GOLD_ENTRIES} gold entries per import.", code="too_many_entries")


# ---- matching --------------------------------------------------------------------------------------------


def _keys_to_clusters(project: Project, keys: set[str]) -> dict[str, set[int]]:
    """key -> cluster ids (canonical image ids) it names in this project, for the first kind that matches."""
    found: dict[str, set[int]] = {}
    shas = {k.lower() for k in keys if SHA256.match(k)}
    if shas:
        in_project = Q(sources__project=project) | Q(items__project=project)
        rows = Image.objects.filter(in_project, sha256__in=shas).values_list(
            "sha256", Coalesce(F("canonical_id"), F("id"))
        )
        for sha, cluster in rows.distinct():
            found.setdefault(sha, set()).add(cluster)
        found.update({k: found[k.lower()] for k in keys if k.lower() in found})
    rest = {k for k in keys if k not in found}
    sources = ImageSource.objects.filter(project=project)
    cluster = Coalesce(F("image__canonical_id"), F("image_id"))
    if rest:
        for uri, c in sources.filter(source_uri__in=rest).values_list("source_uri", cluster).distinct():
            found.setdefault(uri, set()).add(c)
    rest -= set(found)
    if rest:
        named = sources.annotate(file_name=UriFileName("source_uri")).filter(file_name__in=rest)
        for name, c in named.values_list("file_name", cluster).distinct():
            found.setdefault(name, set()).add(c)
    return found


def _items_by_cluster(project: Project, clusters: set[int]) -> dict[int, list[Item]]:
    by_cluster: dict[int, list[Item]] = defaultdict(list)
    if clusters:
        qs = Item.objects.filter(project=project, image_id__in=clusters).select_related("category", "image")
        for item in qs.order_by("id"):
            by_cluster[item.image_id].append(item)
    return by_cluster


def _pick_item(entry: GoldEntry, clusters: set[int] | None, by_cluster: dict[int, list[Item]]) -> Item:
    if entry.unreadable:
        raise _RowError(f"The row cannot be read: {entry.unreadable}.", "invalid_row")
    if entry.image and not _usable_key(entry.image):
        raise _RowError("The image reference holds control characters or is too long.", "invalid_image")
    if not entry.image:
        raise _RowError("The entry names no image.", "missing_image")
    if not clusters:
        raise _RowError("No image of this project has this SHA-256, source URI or file name.", "image_not_found")
    if len(clusters) > 1:
        raise _RowError(
            f"{len(clusters)} different images of this project match; use the SHA-256 or the full source URI.",
            "ambiguous_image",
        )
    items = by_cluster.get(next(iter(clusters)), [])
    if entry.category:
        items = [i for i in items if i.category and entry.category in (i.category.name, str(i.category_id))]
    if not items:
        what = f" for category {entry.category!r}" if entry.category else ""
        raise _RowError(f"The image has no item{what} in this project.", "item_not_found")
    if len(items) > 1:
        names = ", ".join(sorted(i.category.name for i in items if i.category))
        raise _RowError(f"The image has an item per category ({names}): add a category column.", "ambiguous_item")
    return items[0]


# ---- labels ----------------------------------------------------------------------------------------------


def _label(project: Project, raw: Any, categories: dict[str, int], ids: set[int]) -> int:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise _RowError("The entry has no label.", "missing_label")
    if isinstance(raw, dict | list) or (isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) > 2**63):
        raise _RowError("The label is not a single value.", "invalid_label")
    text = str(raw).strip()[:200]
    if project.task_type == Project.TaskType.VERIFY:
        if isinstance(raw, bool):
            return int(raw)
        if text.lower() in YES:
            return 1
        if text.lower() in NO:
            return 0
        raise _RowError(f"Label {text!r} is not yes/no/1/0 (a verify project).", "invalid_label")
    if text in categories:
        return categories[text]
    if text.lower() in categories:
        return categories[text.lower()]
    number = ascii_int(text)
    if number is not None and (number in ids or number == -1):
        return number
    raise _RowError(f"Label {text!r} is not a category name or id of this project.", "invalid_label")


# ---- the import ------------------------------------------------------------------------------------------


def gold_import(*, project: Project, entries: Iterable[GoldEntry]) -> GoldImportResult:
    """Match every entry and set its gold; existing gold is updated, never duplicated. Queries: a few to
    match all entries at once, then a handful per imported entry (row lock, update)."""
    entries = list(entries)
    _check_size(len(entries))
    boxes = project.task_type == Project.TaskType.BOXES
    cats = list(Category.objects.filter(project=project).values_list("name", "id"))
    categories = {name: pk for name, pk in cats} | {name.lower(): pk for name, pk in reversed(cats)}
    ids = {pk for _, pk in cats}
    clusters_of = _keys_to_clusters(project, {e.image for e in entries if _usable_key(e.image)})
    by_cluster = _items_by_cluster(project, {c for cs in clusters_of.values() for c in cs})
    result = GoldImportResult()
    done: dict[int, int] = {}  # item id -> line that set it
    with transaction.atomic():
        for entry in entries:
            item = None
            try:
                item = _pick_item(entry, clusters_of.get(entry.image), by_cluster)
                if item.pk in done:
                    raise _RowError(f"Line {done[item.pk]} already sets this item's gold.", "duplicate_entry")
                status = _apply(project, item, entry, boxes, categories, ids)
            except _RowError as exc:
                row = GoldRowResult(entry.line, entry.image, "error", item and item.pk, exc.reason, exc.code)
            except ServiceError as exc:
                row = GoldRowResult(entry.line, entry.image, "error", item and item.pk, exc.message, exc.code)
            else:
                done[item.pk] = entry.line
                row = GoldRowResult(entry.line, entry.image, status, item.pk)
            result.rows.append(row)
    return result


def _apply(project: Project, item: Item, entry: GoldEntry, boxes: bool, categories: dict, ids: set) -> str:
    was_gold = item.is_gold
    if boxes:
        if entry.boxes is None:
            raise _RowError('Box projects need "boxes": [[x, y, w, h], ...] (a JSON file).', "missing_boxes")
        before = item.gold_answer
        after = gold_boxes_set(item=item, boxes=entry.boxes).gold_answer
    else:
        if entry.boxes is not None:
            raise _RowError("Only box projects take boxes; give a label.", "invalid_label")
        label = _label(project, entry.label, categories, ids)
        before = item.gold_label
        if was_gold and before == label:
            return "unchanged"
        after = gold_set(item=item, label=label).gold_label
    if not was_gold:
        return "created"
    return "unchanged" if before == after else "updated"


def gold_import_file(*, project: Project, data: bytes, filename: str = "") -> GoldImportResult:
    """Read a gold file (gold_entries_read) and import it (gold_import)."""
    return gold_import(project=project, entries=gold_entries_read(data=data, filename=filename))
