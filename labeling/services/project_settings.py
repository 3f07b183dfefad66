"""Researcher-side project writes beyond creation: settings, people, and the categories text format."""

from __future__ import annotations

import csv

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from annotate.bounded import BoundedError, CsvProblem, Limits, check_size, read_csv
from annotate.exceptions import NotFound, ServiceError
from labeling.models import Item, Project

SETTINGS_FIELDS = (
    "name",
    "instructions",
    "min_votes",
    "max_votes",
    "confidence_target",
    "gold_rate",
    "qualification_size",
    "stall_hours",
    "audit_rate",
    "visibility",
)
PEOPLE_ROLES = ("owners", "reviewers", "members")
CSV_HEADER = ["name", "definition", "wnid", "parent"]


CATEGORY_TEXT_LIMITS = Limits(max_bytes=5 * 1024 * 1024, max_field_chars=10_000)


def categories_parse(text: str) -> list[dict]:
    """Categories from text: CSV with a `name,definition,wnid,parent` header, or one name per line. Read through
    the bounded reader: a text over 5 MB, a field over 10,000 characters or a line the CSV reader cannot read is
    a BoundedError (a ValueError naming the line)."""
    check_size(text, CATEGORY_TEXT_LIMITS, "The categories text")
    if "\x00" in text:
        raise BoundedError("The categories text contains NUL characters.")
    # blank and comment lines are kept empty, so line numbers stay those of the text
    lines = ["" if not line.strip() or line.lstrip().startswith("#") else line for line in text.splitlines()]
    longest = len(CSV_HEADER) * (CATEGORY_TEXT_LIMITS.max_field_chars + 3)
    too_long = next((n for n, line in enumerate(lines, 1) if len(line) > longest), None)
    if too_long:
        raise BoundedError(f"Line {too_long} is longer than {longest} characters.", "too_long")
    first_line = next((line for line in lines if line), None)
    if first_line is None:
        return []
    header = [c.strip().lower() for c in next(csv.reader([first_line]), [])]
    if not (header and header[0] == "name"):
        return [{"name": line.strip()} for line in lines if line]
    rows: list[list[str]] = []
    for row in read_csv("\n".join(lines), CATEGORY_TEXT_LIMITS):
        if isinstance(row, CsvProblem):
            raise BoundedError(f"Line {row.line}: {row.message}.", "invalid_row")
        if row.cells:
            rows.append(row.cells)
    keys = [c.strip().lower() for c in rows[0]]
    specs = []
    for cells in rows[1:]:
        row = {k: v.strip() for k, v in zip(keys, cells, strict=False) if k}
        if row.get("name"):
            specs.append({k: row.get(k, "") for k in CSV_HEADER} | {"parent": row.get("parent") or None})
    return specs


@transaction.atomic
def project_update(*, project: Project, **fields: object) -> Project:
    """Change settings; raising min_votes raises `needed_votes` of open items that asked for fewer."""
    unknown = set(fields) - set(SETTINGS_FIELDS)
    if unknown:
        raise ServiceError(f"Unknown settings: {', '.join(sorted(unknown))}.", code="invalid_settings")
    for key, value in fields.items():
        setattr(project, key, value)
    if project.max_votes < project.min_votes:
        raise ServiceError(_("Max votes must be at least min votes."), code="invalid_votes")
    if not 0 <= project.gold_rate <= 0.5:
        raise ServiceError(_("The gold rate must be between 0 and 0.5."), code="invalid_gold_rate")
    if not 0 <= project.audit_rate <= 0.5:
        raise ServiceError(_("The audit rate must be between 0 and 0.5."), code="invalid_audit_rate")
    if not 0 <= project.stall_hours <= 24 * 365:
        raise ServiceError(_("Stall hours must be between 0 and 8760."), code="invalid_stall_hours")
    if project.visibility not in Project.Visibility.values:
        raise ServiceError(_("Unknown visibility."), code="invalid_visibility")
    project.save(update_fields=list(fields))
    if "min_votes" in fields:
        Item.objects.filter(project=project, status=Item.Status.OPEN, needed_votes__lt=project.min_votes).update(
            needed_votes=project.min_votes,
            version=F("version") + 1,  # a re-aggregation's read is stale now
        )
    return project


def project_people_update(*, project: Project, role: str, username: str, add: bool) -> None:
    """Add or remove a user as owner, reviewer or invited member."""
    if role not in PEOPLE_ROLES:
        raise ServiceError(f"Role must be one of {', '.join(PEOPLE_ROLES)}.", code="invalid_role")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound(_("No user named %(name)r.") % {"name": username}, code="user_not_found")
    relation = getattr(project, role)
    if add:
        relation.add(user)
        return
    if role == "owners" and project.owners.count() == 1 and project.owners.filter(pk=user.pk).exists():
        raise ServiceError(_("A project keeps at least one owner."), code="last_owner")
    relation.remove(user)
