"""What collection and contribution read from a project and its categories: languages, allowed licences,
contributions, and each category's synonyms and names per language. The one writer of those fields."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from annotate.exceptions import ServiceError
from labeling.models import Category, Project
from labeling.services.collection.licenses import CODES

LANGUAGE = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


def _terms(values: list[str], *, limit: int = 30) -> list[str]:
    out = list(dict.fromkeys(" ".join(str(v).split())[:200] for v in values if str(v).strip()))
    if len(out) > limit:
        raise ServiceError(_("At most %(n)d names.") % {"n": limit}, code="too_many_names")
    return out


def project_collection_set(*, project: Project, languages: list[str], allowed_licenses: list[str],
                           contributions_open: bool, contribution_license: str) -> Project:  # fmt: skip
    import re

    languages = _terms(languages, limit=10)
    if any(not re.match(LANGUAGE, lang) for lang in languages):
        raise ServiceError(_("Languages are codes such as zh-Hans, es, nl."), code="invalid_language")
    unknown = [code for code in allowed_licenses if code not in CODES]
    if unknown:
        raise ServiceError(_("Unknown licence: %(codes)s.") % {"codes": ", ".join(unknown)}, code="invalid_license")
    if contributions_open and not contribution_license.strip():
        raise ServiceError(_("Contributions need a licence."), code="contribution_license_required")
    project.collect_languages = languages
    project.allowed_licenses = list(dict.fromkeys(allowed_licenses))
    project.contributions_open = contributions_open
    project.contribution_license = " ".join(contribution_license.split())[:100]
    fields = ["collect_languages", "allowed_licenses", "contributions_open", "contribution_license"]
    project.save(update_fields=fields)
    return project


def category_terms_set(*, category: Category, synonyms: list[str], names: dict[str, list[str]]) -> Category:
    """A category's synonyms and its names per language (the queries' words besides its name and WordNet)."""
    with transaction.atomic():
        category.synonyms = _terms(synonyms)
        category.names = {lang: _terms(values) for lang, values in names.items() if _terms(values)}
        category.save(update_fields=["synonyms", "names"])
    return category


def terms_parse(text: str) -> dict[str, list[str]]:
    """'zh-Hans: 哈士奇, 雪橇犬' lines -> {"zh-Hans": ["哈士奇", "雪橇犬"]} (ServiceError on a line without a colon)."""
    out: dict[str, list[str]] = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        lang, sep, values = line.partition(":")
        if not sep or not lang.strip():
            raise ServiceError(_("Write one language per line: 'zh-Hans: name, other name'."), code="invalid_names")
        out.setdefault(lang.strip(), []).extend(v for v in values.split(",") if v.strip())
    return out
