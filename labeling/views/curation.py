"""Curation browser (researchers and reviewers of the project): the item grid, one item, bulk actions.

The grid and the API (labeling/api/curation.py) read through labeling.selectors.curation with the same filters;
bulk actions are labeling.services.curation. static/labeling/curation.js adds keyboard selection and zoom; every
action also works as a plain form without JavaScript.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from annotate.exceptions import ServiceError
from annotate.inputs import ascii_int, param_ids, param_int
from annotate.roles import Role, role_required
from labeling.models import Item
from labeling.selectors.curation import (
    PAGE_SIZES,
    SORTS,
    CurationFilters,
    curation_cluster,
    curation_filters_parse,
    curation_item,
    curation_item_examples,
    curation_item_history,
    curation_item_votes,
    curation_model_opinion,
    curation_page,
)
from labeling.selectors.projects import project_for_reviewer
from labeling.services.curation import (
    items_mark_gold,
    items_send_to_review,
    items_set_examples,
    items_set_excluded,
)
from labeling.services.quality.review import review_choices

# What the sort menu says (the values stay the stable query-parameter keys of SORTS).
SORT_LABELS = {
    "id": gettext_lazy("oldest first"),
    "-id": gettext_lazy("newest first"),
    "posterior": gettext_lazy("least certain consensus first"),
    "-posterior": gettext_lazy("most certain consensus first"),
    "uncertainty": gettext_lazy("model most uncertain first"),
    "votes": gettext_lazy("fewest votes first"),
    "-votes": gettext_lazy("most votes first"),
}

CURATION_ROLES = (Role.REVIEWER, Role.RESEARCHER, Role.ADMIN)
# What a bulk action did, as a whole sentence per action (word order differs between languages).
BULK_DONE = {
    "review": gettext_lazy("%(n)s item(s) sent to review."),
    "gold": gettext_lazy("%(n)s item(s) marked as gold."),
    "ungold": gettext_lazy("%(n)s item(s) no longer gold."),
    "exclude": gettext_lazy("%(n)s item(s) excluded from datasets."),
    "include": gettext_lazy("%(n)s item(s) included in datasets again."),
    "example": gettext_lazy("%(n)s item(s) made example images of their category."),
    "unexample": gettext_lazy("%(n)s item(s) no longer example images."),
}


@require_GET
@role_required(*CURATION_ROLES)
def curation_browse(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_reviewer(request.user, slug)
    choices = review_choices(project=project)
    error = None
    try:
        filters = curation_filters_parse(request.GET)
    except ServiceError as exc:
        error, filters = exc.message, CurationFilters()
    size = param_int(request.GET, "size", default=48, minimum=1, lenient=True)
    number = param_int(request.GET, "page", default=1, minimum=1, lenient=True)
    page = curation_page(project=project, filters=filters, page=number, size=size)
    names = dict(choices)
    query = filters.as_query() | ({"size": str(page.size)} if page.size != 48 else {})
    return render(
        request,
        "labeling/curation/browse.html",
        {
            "project": project,
            "page": page,
            "tiles": [{"item": i, "label_name": names.get(i.label, "—")} for i in page.items],
            "filters": filters,
            "query": urlencode(query),
            "choices": choices,
            "categories": list(project.categories.order_by("name").values_list("id", "name")),
            "statuses": Item.Status.values,
            "sorts": [(s, SORT_LABELS.get(s, s)) for s in SORTS],
            "page_sizes": PAGE_SIZES,
            "error": error,
        },
        status=400 if error else 200,
    )


@require_POST
@role_required(*CURATION_ROLES)
def curation_bulk(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_reviewer(request.user, slug)
    back = request.POST.get("next_query", "")
    action = request.POST.get("action", "")
    try:
        ids = param_ids(request.POST, "item")
        if action == "review":
            result = items_send_to_review(project=project, item_ids=ids, user=request.user)
        elif action in ("gold", "ungold"):
            label = param_int(request.POST, "label", lenient=True) if action == "gold" else None
            if action == "gold" and label is None:
                raise ServiceError(_("Pick the gold label."), code="invalid_label")
            result = items_mark_gold(project=project, item_ids=ids, label=label, user=request.user)
        elif action in ("exclude", "include"):
            result = items_set_excluded(project=project, item_ids=ids, excluded=action == "exclude", user=request.user)
        elif action in ("example", "unexample"):
            result = items_set_examples(project=project, item_ids=ids, example=action == "example", user=request.user)
        else:
            raise ServiceError(_("Pick an action."), code="invalid_action")
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        text = BULK_DONE[result.action] % {"n": len(result.changed)}
        if result.unchanged:
            text += " " + _("%(n)s already were (or are gold).") % {"n": len(result.unchanged)}
        messages.success(request, text)
    url = reverse("curation_browse", kwargs={"slug": project.slug})
    return redirect(f"{url}?{back}" if back and back.isprintable() else url)


@require_GET
@role_required(*CURATION_ROLES)
def curation_item_detail(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    project = project_for_reviewer(request.user, slug)
    item = curation_item(project=project, item_id=item_id)
    choices = review_choices(project=project)
    names = dict(choices)
    votes = curation_item_votes(item=item)
    for vote in votes:
        vote["label_name"] = names.get(vote["label"], "—") if vote["label"] is not None else "boxes"
    posterior = sorted(((float(p), names.get(int(k), k)) for k, p in (item.posterior or {}).items()), reverse=True)
    opinion = curation_model_opinion(item)
    model = None
    if opinion is not None:
        top, p = opinion
        number = ascii_int(top)
        model = {"label": names.get(number, top) if number is not None else top, "p": p}
    return render(
        request,
        "labeling/curation/item.html",
        {
            "project": project,
            "item": item,
            "label_name": names.get(item.label, "—"),
            "gold_name": names.get(item.gold_label, "—"),
            "votes": votes,
            "posterior": posterior,
            "model": model,
            "history": curation_item_history(item=item, label_names=names),
            "cluster": curation_cluster(item=item),
            "examples": curation_item_examples(item=item),
            "choices": choices,
            "back": request.GET.get("back", ""),
        },
    )
