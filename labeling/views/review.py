"""Reviewer pages: the review queue (keyboard: A accept, R reject, F/1-9 fix), annotators, per-category quality.

Charts are inline SVG generated here (no inline styles or scripts: CSP); static/labeling/review.js adds the
keyboard shortcuts, and every action also works as a plain form POST without JavaScript.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from annotate.bounded import BoundedError, Limits, read_json
from annotate.exceptions import ServiceError
from annotate.i18n import status_text
from annotate.inputs import InvalidParam, ascii_int, param_int, text_clean
from annotate.roles import Role, role_required
from labeling.models import AnnotatorScore, Item, Project
from labeling.selectors.live import annotator_boxes, block_reasons, live_rows, open_appeals
from labeling.selectors.projects import project_for_reviewer
from labeling.selectors.quality import annotator_scores, gold_accuracy_histogram, progress_by_category, quality_stats
from labeling.selectors.review import review_item_votes, review_items, voter_context
from labeling.services.quality import annotator_status_set
from labeling.services.quality.appeals import appeals_resolve
from labeling.services.quality.review import review_accept, review_choices, review_fix, review_reject
from labeling.services.quality.triggers import project_recompute

REVIEW_ROLES = (Role.REVIEWER, Role.RESEARCHER, Role.ADMIN)


def svg_bars(values: list[float], labels: list[str], *, width: int = 320, height: int = 120) -> dict:
    """Geometry of a bar chart for templates/labeling/review/_bars.html (pure numbers, no styles)."""
    n = max(len(values), 1)
    top = max([float(v) for v in values] + [1e-9])
    step = width / n
    bars = []
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        h = 0 if top <= 0 else (float(value) / top) * (height - 20)
        bars.append(
            {
                "x": round(i * step + 2, 1),
                "y": round(height - 14 - h, 1),
                "w": round(max(step - 4, 1), 1),
                "h": round(h, 1),
                "value": value,
                "label": label,
                "tx": round(i * step + step / 2, 1),
            }
        )
    return {"width": width, "height": height, "bars": bars, "base": height - 14, "label_y": height - 2}


@require_GET
@role_required(*REVIEW_ROLES)
def review_queue(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_reviewer(request.user, slug)
    choices = review_choices(project=project)
    names = dict(choices)
    items = review_items(project=project, limit=30)
    boxes = project.task_type == Project.TaskType.BOXES
    rows = []
    context = voter_context(project_id=project.pk, items=items)
    for item in items:
        posterior = sorted(((float(p), names.get(int(k), k)) for k, p in (item.posterior or {}).items()), reverse=True)
        votes = review_item_votes(item=item, context=context)
        for vote in votes:
            vote["label_name"] = names.get(vote["label"], "—") if vote["label"] is not None else _boxes_text(vote)
        row = {"item": item, "posterior": posterior, "votes": votes, "label_name": names.get(item.label, "—")}
        if boxes:  # the box editor starts from the consensus boxes (or nothing)
            consensus = (item.answer or {}).get("boxes") or []
            row["boxes_json"] = json.dumps(consensus)
            n = len(consensus)
            row["label_name"] = ngettext("%(n)s box", "%(n)s boxes", n) % {"n": n} if item.answer else "—"
        rows.append(row)
    editor = None
    if boxes:
        categories = [{"id": c, "name": n} for c, n in choices if c != -1] if project.detects else []
        editor = {"detect": project.detects, "categories": categories}
    return render(
        request,
        "labeling/review/queue.html",
        {"project": project, "rows": rows, "choices": choices, "box_editor": editor},
    )


@require_POST
@role_required(*REVIEW_ROLES)
def review_act(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    project = project_for_reviewer(request.user, slug)
    item = Item.objects.filter(project=project, pk=item_id).select_related("project").first()
    if item is None:
        raise Http404("No such item.")
    action = request.POST.get("action")
    try:
        if action == "accept":
            review_accept(item=item, reviewer=request.user)
        elif action == "reject":
            review_reject(item=item, reviewer=request.user)
        elif action == "fix":
            review_fix(item=item, reviewer=request.user, **_fix_input(request))
        else:
            raise ServiceError(_("Unknown review action."), code="invalid_action")
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        done = {
            "accept": _("Item %(id)s accepted."),
            "reject": _("Item %(id)s rejected."),
            "fix": _("Item %(id)s fixed (now gold)."),
        }[action]
        messages.success(request, done % {"id": item.pk})
    return redirect("review_queue", slug=project.slug)


def _boxes_text(vote: dict) -> str:
    n = len((vote.get("answer") or {}).get("boxes") or [])
    return ngettext("%(n)s box", "%(n)s boxes", n) % {"n": n}


BOXES_LIMITS = Limits(max_bytes=1024 * 1024, max_depth=8)


def _fix_input(request: HttpRequest) -> dict:
    """The fix form's answer: `label` (verify / classify), or `boxes`, JSON the page's box editor writes."""
    raw = request.POST.get("boxes")
    if raw is None:
        return {"label": ascii_int(request.POST.get("label", ""))}
    try:
        return {"boxes": read_json(raw, BOXES_LIMITS, what="The boxes")}
    except BoundedError as exc:  # deep nesting was a RecursionError (a 500) with json.loads
        raise ServiceError(_("The corrected boxes are not valid JSON."), code="invalid_boxes") from exc


@require_GET
@role_required(*REVIEW_ROLES)
def annotators(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_reviewer(request.user, slug)
    histogram = gold_accuracy_histogram(project=project)
    chart = svg_bars([h["count"] for h in histogram], [f"{h['low']:.1f}" for h in histogram], width=400)
    scores = list(annotator_scores(project=project)[:500])
    live, reasons, appeals = live_rows(project=project), block_reasons(project=project), open_appeals(project=project)
    for score in scores:
        score.live = live.get(score.user_id)
        score.block_reason = reasons.get(score.user_id, "") if score.status == AnnotatorScore.Status.BLOCKED else ""
        score.appeal = appeals.get(score.user_id)
    return render(
        request,
        "labeling/review/annotators.html",
        {"project": project, "scores": scores, "chart": chart},
    )


@require_POST
@role_required(*REVIEW_ROLES)
def recompute(request: HttpRequest, slug: str) -> HttpResponse:
    """The reviewer's "recompute now": the project's full re-aggregation, enqueued."""
    project = project_for_reviewer(request.user, slug)
    project_recompute(project=project, by=request.user)
    messages.success(request, _("Recomputing: the scores and items update in a minute."))
    return redirect("annotators", slug=project.slug)


@require_GET
@role_required(*REVIEW_ROLES)
def annotator_boxes_view(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    """A box project's annotator's latest boxes beside the consensus, drawn over each image."""
    project = project_for_reviewer(request.user, slug)
    rows = annotator_boxes(project=project, user_id=user_id)
    if not rows:
        raise Http404(_("No such annotator."))
    shown = []
    for a in rows:
        image = a.item.image
        mine = [b[:4] for b in (a.answer or {}).get("boxes", [])]
        consensus = [b[:4] for b in ((a.item.answer or {}).get("boxes", []) if isinstance(a.item.answer, dict) else [])]
        shown.append({"annotation": a, "image": image, "mine": mine, "consensus": consensus})
    context = {"project": project, "who": rows[0].user, "rows": shown}
    return render(request, "labeling/review/annotator_boxes.html", context)


@require_POST
@role_required(*REVIEW_ROLES)
def annotator_status(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    project = project_for_reviewer(request.user, slug)
    user = get_user_model().objects.filter(pk=user_id, annotator_scores__project=project).first()
    if user is None:
        raise Http404(_("No such annotator."))
    status = request.POST.get("status", "")
    if status not in AnnotatorScore.Status.values:
        messages.error(request, _("Unknown status."))
        return redirect("annotators", slug=project.slug)
    try:
        reason = text_clean(str(request.POST.get("reason") or "").strip()[:500], name="reason")
    except InvalidParam:  # a NUL cannot be stored (PostgreSQL): the same refusal as the API's 400
        messages.error(request, _("The reason contains control characters; remove them and try again."))
        return redirect("annotators", slug=project.slug)
    _score, reopened = annotator_status_set(project=project, user=user, status=status, by=request.user, reason=reason)
    appeals_resolve(project=project, user=user)  # a reviewer looked at them
    text = _("%(user)s is now %(status)s; %(n)s item(s) went back to the queue.")
    messages.success(request, text % {"user": user.username, "status": status_text(status), "n": len(reopened)})
    return redirect("annotators", slug=project.slug)


@require_GET
@role_required(*REVIEW_ROLES)
def quality(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_reviewer(request.user, slug)
    stats = quality_stats(project=project, page=param_int(request.GET, "page", default=1, minimum=1, lenient=True))
    groups = []
    for g in [stats["overall"], *stats["categories"]]:
        dist = svg_bars(list(g.vote_distribution.values()), list(g.vote_distribution.keys()), width=240, height=100)
        post = svg_bars(g.posterior_histogram, [f".{i}" for i in range(10)], width=240, height=100)
        groups.append({"stats": g, "votes_chart": dist, "posterior_chart": post})
    return render(
        request,
        "labeling/review/quality.html",
        {
            "project": project,
            "groups": groups,
            "prior_accuracy": stats["prior_accuracy"],
            "model": stats["model"],
            "sample": stats["sample"],
            "categories_page": stats["categories_page"],
            "progress": progress_by_category(project=project),
        },
    )
