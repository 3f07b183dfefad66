"""The dataset card of a version (markdown): sources and licenses, collection and QC method, statistics,
known limitations. User-controlled strings (project, category names and definitions, licenses) are
HTML-escaped and stripped of markdown table/line syntax, so the card is safe even before sanitising."""

from __future__ import annotations

import html
import re
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from labeling.models import Category, DatasetVersion, Item, Project, ReviewAction

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#!])")


def md_text(value: Any, limit: int = 300) -> str:
    """One line of plain text, safe inside markdown tables and HTML."""
    text = " ".join(str(value or "").split())[:limit]
    return html.escape(_MD_SPECIAL.sub(r"\\\1", text), quote=False)


def md_code(value: Any, limit: int = 100) -> str:
    """Text for inside a `code span`: markdown escapes would show literally there (`dawid\\_skene`), so only
    backticks and line breaks are removed, and HTML is escaped."""
    return html.escape(" ".join(str(value or "").replace("`", "").split())[:limit], quote=False)


def _review_text(project: Project, version: DatasetVersion) -> str:
    """What expert review did, from the items themselves: said only when it happened."""
    reviewed = ReviewAction.objects.filter(item__project=project).values("item_id").distinct().count()
    waiting = Item.objects.filter(project=project, status=Item.Status.REVIEW).count()
    excluded = (version.filters or {}).get("excluded_items") or 0
    parts = []
    if reviewed:
        text = ngettext(
            "%(n)s item was checked by expert reviewers (accepted, rejected or relabelled).",
            "%(n)s items were checked by expert reviewers (accepted, rejected or relabelled).",
            reviewed,
        )
        parts.append(text % {"n": reviewed})
    if waiting:
        text = ngettext(
            "%(n)s item without consensus was waiting for expert review at snapshot time; not in this version.",
            "%(n)s items without consensus were waiting for expert review at snapshot time; not in this version.",
            waiting,
        )
        parts.append(text % {"n": waiting})
    if not parts:
        parts.append(_("No item went to expert review."))
    if excluded:
        text = ngettext("%(n)s item was excluded by curators.", "%(n)s items were excluded by curators.", excluded)
        parts.append(text % {"n": excluded})
    by_model = Item.objects.filter(
        project=project, is_gold=False, votes_count=0, status__in=(Item.Status.DONE, Item.Status.ACCEPTED)
    ).count()
    if by_model:  # min_votes = 0: a model proven on checked items finished them alone (training/services/voter.py)
        text = ngettext(
            "%(n)s item was labelled by a model proven on checked items, with no human vote.",
            "%(n)s items were labelled by a model proven on checked items, with no human vote.",
            by_model,
        )
        parts.append(text % {"n": by_model})
    return " ".join(parts)


def _pct(x: float | None) -> str:
    return _("n/a") if x is None else f"{100 * x:.1f}%"


def _yes_no(flag: Any) -> str:
    return _("yes") if flag else _("no")


def dataset_card_render(*, project: Project, version: DatasetVersion) -> str:
    """The card in the active language: the one of the researcher who creates the version (their request's
    language; English from the command line). It is written once, with the version, and never re-rendered: what
    is published never changes (CONVENTIONS 20), so a reader in another language reads the creator's card, with
    the page around it in their own language."""
    stats: dict[str, Any] = version.stats
    f = version.filters
    defs = dict(Category.objects.filter(project=project).values_list("id", "definition"))
    split = f"{version.split_train:g}/{version.split_val:g}/{version.split_test:g}"
    min_posterior = f.get("min_posterior")
    lines = [
        "# " + _("%(project)s — dataset version %(number)s") % {"project": md_text(project.name),
                                                                  "number": version.number},
        "",
        _("*%(name)s* · content hash `%(hash)s` · %(images)s images · %(classes)s classes")
        % {"name": md_text(version.name), "hash": version.content_hash, "images": stats["images"],
           "classes": stats["classes"]},
        "",
        "## " + _("Collection"),
        "",
        _("Images were ingested into the project (%(task)s) from crawled or uploaded sources and labelled by "
          "volunteers. Exact duplicates are stored once (SHA-256); near-duplicates (perceptual hash) form clusters "
          "that never straddle splits.") % {"task": project.get_task_type_display()},
        "",
        "## " + _("Quality control"),
        "",
        _("Each item was shown to at least %(min)s and at most %(max)s volunteers. Votes were aggregated with "
          "`%(method)s` into a posterior per item; an item stops collecting votes once its posterior reaches "
          "%(target)s. Gold items with known answers (rate %(gold)s) score annotators.")
        % {"min": project.min_votes, "max": project.max_votes, "method": md_code(project.aggregation_method),
           "target": f"{project.confidence_target:g}", "gold": f"{project.gold_rate:g}"}
        + " " + _review_text(project, version),
        "",
        "## " + _("Filters"),
        "",
        "- " + _("categories: %(value)s")
        % {"value": ", ".join(md_text(c) for c in f.get("categories") or []) or _("all")},
        "- " + _("minimum posterior: %(value)s") % {"value": min_posterior if min_posterior is not None else _("none")},
        "- " + _("accepted by review only: %(value)s") % {"value": _yes_no(f.get("accepted_only"))},
        "- " + _("gold items included: %(value)s") % {"value": _yes_no(f.get("include_gold"))},
        "- " + _("near-duplicates excluded: %(value)s") % {"value": _yes_no(f.get("exclude_near_duplicates"))},
        "- " + _("split train/val/test: %(split)s, seed %(seed)s") % {"split": split, "seed": version.seed},
        "- " + _("snapshot taken at: %(when)s") % {"when": f.get("snapshot_at", "")},
        "",
        "## " + _("Statistics"),
        "",
        "- " + _("mean posterior: %(value)s") % {"value": _fmt(stats.get("mean_posterior"))},
        "- " + _("estimated label noise (1 − mean posterior): %(value)s")
        % {"value": _pct(stats.get("estimated_label_noise"))},
        "- " + _("labels per image: %(value)s") % {"value": f"{stats.get('labels_per_item', 0):.2f}"},
        "- " + _("distinct annotators: %(value)s") % {"value": stats.get("annotators", 0)},
        "- " + _("gold images: %(value)s") % {"value": stats.get("gold_images", 0)},
        "",
        "| {} | {} | {} | {} | {} | {} | {} |".format(
            _("index"), _("class"), _("definition"), _("train"), _("val"), _("test"), _("total")
        ),
        "|---:|---|---|---:|---:|---:|---:|",
    ]  # fmt: skip
    for c in version.classes:
        n = stats["per_class"].get(c["name"], {})
        lines.append(
            f"| {c['index']} | {md_text(c['name'])} | {md_text(defs.get(c['category_id'], ''), 160)} | "
            f"{n.get('train', 0)} | {n.get('val', 0)} | {n.get('test', 0)} | {n.get('total', 0)} |"
        )
    lines += ["", "## " + _("Sources and licenses"), ""]
    licenses = stats.get("licenses") or {}
    lines += ["- " + _("%(license)s: %(n)s images") % {"license": md_text(k), "n": v} for k, v in licenses.items()]
    lines += [] if licenses else ["- " + _("none recorded")]
    lines += collection_card_lines(project)  # collected and contributed images: sources, licences, credits
    lines += [
        "",
        _("Every exported row carries its source URL, license and attribution; respect each image's license."),
        "",
        "## " + _("Known limitations"),
        "",
        "- " + _("Labels are crowd consensus, not ground truth: expect roughly the estimated label noise above, more "
                 "in classes with a low mean posterior."),
        "- " + _("Images come from web crawls for the category names and inherit the biases of the search engines "
                 "and of the query terms."),
        "- " + _("For verify projects an image belongs to the verified class with the highest posterior; other "
                 "classes may also be present (see the soft labels)."),
        "- " + _("Annotators are pseudonymous (per-project HMAC); no personal data is included."),
        "",
    ]  # fmt: skip
    return "\n".join(lines)


def collection_card_lines(project: Project) -> list[str]:
    """Where collected candidates came from (per search source, ingested images and licences) and who
    contributed images (credited by the name they gave, with their licence); nothing when neither happened."""
    from django.db.models import Count, Sum

    from labeling.models import CollectionCandidate, Contribution

    lines: list[str] = []
    collected = (
        CollectionCandidate.objects.filter(query__run__project=project, outcome=CollectionCandidate.Outcome.INGESTED)
        .values_list("query__source", "license")
        .annotate(n=Count("id"))
        .order_by("query__source", "license")
    )
    if collected:
        intro = _("Candidates were collected from image search (queries from the category names, synonyms, WordNet "
                  "and translations), keeping only images under licences the project allows:")  # fmt: skip
        lines += ["", intro, ""]
        lines += ["- " + _("%(source)s, %(license)s: %(n)s images") % {"source": md_text(source), "n": n,
                  "license": md_text(lic or _("unknown"))} for source, lic, n in collected]  # fmt: skip
    contributions = (
        Contribution.objects.filter(project=project)
        .exclude(status=Contribution.Status.REJECTED)
        .values_list("credit", "license")
        .annotate(images=Sum("batch__ingested"))
        .order_by("credit")
    )
    rows = [(credit, lic, images) for credit, lic, images in contributions if images]
    if rows:
        lines += ["", _("Contributed images (volunteers and researchers, with their consent to the licence):"), ""]
        lines += ["- " + _("%(credit)s: %(n)s images, %(license)s") % {"credit": md_text(credit), "n": n,
                  "license": md_text(lic)} for credit, lic, n in rows]  # fmt: skip
    return lines


def _fmt(x: float | None) -> str:
    return _("n/a") if x is None else f"{x:.4f}"
