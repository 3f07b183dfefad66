"""Researcher-side project writes beyond creation: settings, people, and the categories text format."""

from __future__ import annotations

import csv
import io

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

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


def categories_parse(text: str) -> list[dict]:
    """Categories from text: CSV with a `name,definition,wnid,parent` header, or one name per line."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return []
    first = [c.strip().lower() for c in next(csv.reader([lines[0]]))]
    if first and first[0] == "name":
        specs = []
        for row in csv.DictReader(io.StringIO("\n".join(lines))):
            row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            if row.get("name"):
                specs.append({k: row.get(k, "") for k in CSV_HEADER} | {"parent": row.get("parent") or None})
        return specs
    return [{"name": line.strip()} for line in lines]


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
