"""Reads of candidate collection: per-query and per-source statistics, with precision once verified.

A query's candidates are its search results; `duplicates` are those another query or source (or an earlier run)
already had, or whose bytes were already in the project — each image is counted once across the run.
`verified` are the candidates whose item for the query's category has a consensus (done or accepted) or a
reviewer's verdict (rejected); `positives` those verified as showing the category (label 1). Precision =
positives / verified: ImageNet kept the queries that worked.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q

from labeling.models import Category, CollectionCandidate, CollectionQuery, CollectionRun, Item, Project

Outcome = CollectionCandidate.Outcome


@dataclass(frozen=True)
class QueryStat:
    query_id: int
    category: str
    source: str
    text: str
    kind: str
    language: str
    status: str
    error: str
    candidates: int
    duplicates: int
    license_refused: int
    rejected: int
    ingested: int
    verified: int
    positives: int

    @property
    def precision(self) -> float | None:
        return self.positives / self.verified if self.verified else None

    def as_dict(self) -> dict:
        return {**self.__dict__, "precision": None if self.precision is None else round(self.precision, 4)}


def _verdicts():
    items = Item.objects.filter(image_id=OuterRef("image_id"), category_id=OuterRef("query__category_id"))
    final = items.filter(Q(status__in=(Item.Status.DONE, Item.Status.ACCEPTED)) | Q(status=Item.Status.REJECTED))
    return (
        Exists(final.filter(project_id=OuterRef("query__run__project_id"))),
        Exists(final.filter(project_id=OuterRef("query__run__project_id"), label=1).exclude(
            status=Item.Status.REJECTED)),
    )  # fmt: skip


def query_stats(*, project: Project, run: CollectionRun | None = None, category: Category | None = None) -> list:
    """One QueryStat per query of the run (default: the project's latest run), optionally of one category."""
    run = run or CollectionRun.objects.filter(project=project).order_by("-created_at", "-id").first()
    if run is None:
        return []
    verified, positive = _verdicts()
    cands = CollectionCandidate.objects.filter(query__run=run)
    if category is not None:
        cands = cands.filter(query__category=category)
    per_query = {
        row["query_id"]: row
        for row in cands.annotate(v=verified, p=positive)
        .values("query_id")
        .annotate(
            n=Count("id"),
            dup=Count("id", filter=Q(outcome=Outcome.DUPLICATE)),
            lic=Count("id", filter=Q(outcome=Outcome.LICENSE_REFUSED)),
            rej=Count("id", filter=Q(outcome=Outcome.REJECTED)),
            ing=Count("id", filter=Q(outcome=Outcome.INGESTED)),
            ver=Count("id", filter=Q(v=True)),
            pos=Count("id", filter=Q(p=True)),
        )
        .order_by()
    }
    queries = CollectionQuery.objects.filter(run=run).select_related("category").order_by("position")
    if category is not None:
        queries = queries.filter(category=category)
    out = []
    for q in queries:
        r = per_query.get(q.pk, {})
        out.append(QueryStat(q.pk, q.category.name, q.source, q.text, q.kind, q.language, q.status, q.error,
                             r.get("n", 0), r.get("dup", 0), r.get("lic", 0), r.get("rej", 0), r.get("ing", 0),
                             r.get("ver", 0), r.get("pos", 0)))  # fmt: skip
    return out


def source_stats(stats: list[QueryStat]) -> list[dict]:
    """The same counts summed per source."""
    totals: dict[str, dict] = {}
    for s in stats:
        t = totals.setdefault(s.source, {"source": s.source, "queries": 0, "candidates": 0, "duplicates": 0,
                                         "license_refused": 0, "rejected": 0, "ingested": 0, "verified": 0,
                                         "positives": 0})  # fmt: skip
        t["queries"] += 1
        for f in ("candidates", "duplicates", "license_refused", "rejected", "ingested", "verified", "positives"):
            t[f] += getattr(s, f)
    for t in totals.values():
        t["precision"] = round(t["positives"] / t["verified"], 4) if t["verified"] else None
    return list(totals.values())


def runs_for_project(*, project: Project):
    return CollectionRun.objects.filter(project=project).order_by("-created_at", "-id")
