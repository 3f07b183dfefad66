"""The dataset card of a version (markdown): sources and licenses, collection and QC method, statistics,
known limitations. User-controlled strings (project, category names and definitions, licenses) are
HTML-escaped and stripped of markdown table/line syntax, so the card is safe even before sanitising."""

from __future__ import annotations

import html
import re
from typing import Any

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


def _items(n: int) -> tuple[str, str]:
    """("3 items", "were") / ("1 item", "was")."""
    return (f"{n} item{'s' if n != 1 else ''}", "were" if n != 1 else "was")


def _review_text(project: Project, version: DatasetVersion) -> str:
    """What expert review did, from the items themselves: said only when it happened."""
    reviewed = ReviewAction.objects.filter(item__project=project).values("item_id").distinct().count()
    waiting = Item.objects.filter(project=project, status=Item.Status.REVIEW).count()
    excluded = (version.filters or {}).get("excluded_items") or 0
    parts = []
    if reviewed:
        parts.append("{} {} checked by expert reviewers (accepted, rejected or relabelled).".format(*_items(reviewed)))
    if waiting:
        parts.append("{} without consensus {} waiting for expert review at snapshot time; not in this version."
                     .format(*_items(waiting)))  # fmt: skip
    if not parts:
        parts.append("No item went to expert review.")
    if excluded:
        parts.append("{} {} excluded by curators.".format(*_items(excluded)))
    by_model = Item.objects.filter(
        project=project, is_gold=False, votes_count=0, status__in=(Item.Status.DONE, Item.Status.ACCEPTED)
    ).count()
    if by_model:  # min_votes = 0: a model proven on checked items finished them alone (training/services/voter.py)
        parts.append("{} {} labelled by a model proven on checked items, with no human vote.".format(*_items(by_model)))
    return " ".join(parts)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def dataset_card_render(*, project: Project, version: DatasetVersion) -> str:
    stats: dict[str, Any] = version.stats
    f = version.filters
    defs = dict(Category.objects.filter(project=project).values_list("id", "definition"))
    lines = [
        f"# {md_text(project.name)} — dataset version {version.number}",
        "",
        f"*{md_text(version.name)}* · content hash `{version.content_hash}` · "
        f"{stats['images']} images · {stats['classes']} classes",
        "",
        "## Collection",
        "",
        f"Images were ingested into the project ({project.get_task_type_display()}) from crawled or uploaded "
        "sources and labelled by volunteers. Exact duplicates are stored once (SHA-256); near-duplicates "
        "(perceptual hash) form clusters that never straddle splits.",
        "",
        "## Quality control",
        "",
        f"Each item was shown to at least {project.min_votes} and at most {project.max_votes} volunteers. "
        f"Votes were aggregated with `{md_code(project.aggregation_method)}` into a posterior per item; an item "
        f"stops collecting votes once its posterior reaches {project.confidence_target:g}. Gold items with known "
        f"answers (rate {project.gold_rate:g}) score annotators. " + _review_text(project, version),
        "",
        "## Filters",
        "",
        f"- categories: {', '.join(md_text(c) for c in f.get('categories') or []) or 'all'}",
        f"- minimum posterior: {f.get('min_posterior') if f.get('min_posterior') is not None else 'none'}",
        f"- accepted by review only: {'yes' if f.get('accepted_only') else 'no'}",
        f"- gold items included: {'yes' if f.get('include_gold') else 'no'}",
        f"- near-duplicates excluded: {'yes' if f.get('exclude_near_duplicates') else 'no'}",
        f"- split train/val/test: {version.split_train:g}/{version.split_val:g}/{version.split_test:g}, "
        f"seed {version.seed}",
        f"- snapshot taken at: {f.get('snapshot_at', '')}",
        "",
        "## Statistics",
        "",
        f"- mean posterior: {_fmt(stats.get('mean_posterior'))}",
        f"- estimated label noise (1 − mean posterior): {_pct(stats.get('estimated_label_noise'))}",
        f"- labels per image: {stats.get('labels_per_item', 0):.2f}",
        f"- distinct annotators: {stats.get('annotators', 0)}",
        f"- gold images: {stats.get('gold_images', 0)}",
        "",
        "| index | class | definition | train | val | test | total |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    for c in version.classes:
        n = stats["per_class"].get(c["name"], {})
        lines.append(
            f"| {c['index']} | {md_text(c['name'])} | {md_text(defs.get(c['category_id'], ''), 160)} | "
            f"{n.get('train', 0)} | {n.get('val', 0)} | {n.get('test', 0)} | {n.get('total', 0)} |"
        )
    lines += ["", "## Sources and licenses", ""]
    licenses = stats.get("licenses") or {}
    lines += [f"- {md_text(k)}: {v} images" for k, v in licenses.items()] or ["- none recorded"]
    lines += collection_card_lines(project)  # collected and contributed images: sources, licences, credits
    lines += [
        "",
        "Every exported row carries its source URL, license and attribution; respect each image's license.",
        "",
        "## Known limitations",
        "",
        "- Labels are crowd consensus, not ground truth: expect roughly the estimated label noise above, more "
        "in classes with a low mean posterior.",
        "- Images come from web crawls for the category names and inherit the biases of the search engines and "
        "of the query terms.",
        "- For verify projects an image belongs to the verified class with the highest posterior; other classes "
        "may also be present (see the soft labels).",
        "- Annotators are pseudonymous (per-project HMAC); no personal data is included.",
        "",
    ]
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
        lines += ["", "Candidates were collected from image search (queries from the category names, synonyms, "
                  "WordNet and translations), keeping only images under licences the project allows:", ""]  # fmt: skip
        lines += [f"- {md_text(source)}, {md_text(lic or 'unknown')}: {n} images" for source, lic, n in collected]
    contributions = (
        Contribution.objects.filter(project=project)
        .exclude(status=Contribution.Status.REJECTED)
        .values_list("credit", "license")
        .annotate(images=Sum("batch__ingested"))
        .order_by("credit")
    )
    rows = [(credit, lic, images) for credit, lic, images in contributions if images]
    if rows:
        lines += ["", "Contributed images (volunteers and researchers, with their consent to the licence):", ""]
        lines += [f"- {md_text(credit)}: {n} images, {md_text(lic)}" for credit, lic, n in rows]
    return lines


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"
