"""Researcher pages for dataset versions: list + create form, detail (chart, card, exports), diff."""

from __future__ import annotations

import markdown
import nh3
from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from annotate.exceptions import ServiceError
from annotate.i18n import status_text
from annotate.inputs import ModelIdsField
from annotate.roles import Role, role_required
from labeling.models import Category, Project
from labeling.selectors import datasets as sel
from labeling.selectors.projects import project_for_researcher, projects_for_researcher
from labeling.services.datasets import dataset_version_create
from labeling.services.exports import FORMATS, dataset_export_request

CARD_TAGS = {"h1", "h2", "h3", "p", "ul", "ol", "li", "em", "strong", "code", "pre", "table", "thead", "tbody",
             "tr", "th", "td", "br", "hr", "a"}  # fmt: skip


class VersionForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, label=gettext_lazy("Name"))
    categories = ModelIdsField(
        queryset=Category.objects.none(),
        required=False,
        label=gettext_lazy("Categories"),
        help_text=gettext_lazy("None selected: every category."),
    )
    min_posterior = forms.FloatField(
        min_value=0, max_value=1, required=False, label=gettext_lazy("Min posterior"),
        help_text=gettext_lazy("Drop labels below this."),
    )  # fmt: skip
    accepted_only = forms.BooleanField(required=False, label=gettext_lazy("Accepted by review only"))
    include_gold = forms.BooleanField(required=False, initial=True, label=gettext_lazy("Include gold items"))
    exclude_near_duplicates = forms.BooleanField(
        required=False, initial=True, label=gettext_lazy("Exclude near-duplicates")
    )
    train = forms.FloatField(min_value=0, max_value=1, initial=0.8, label=gettext_lazy("Train"))
    val = forms.FloatField(min_value=0, max_value=1, initial=0.1, label=gettext_lazy("Val"))
    test = forms.FloatField(min_value=0, max_value=1, initial=0.1, label=gettext_lazy("Test"))
    seed = forms.IntegerField(initial=0, min_value=-(2**31), max_value=2**31 - 1, label=gettext_lazy("Seed"))

    def __init__(self, *args: object, project: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["categories"].queryset = Category.objects.filter(project=project).order_by("name")

    def clean(self) -> dict:
        data = super().clean()
        parts = [data.get(k) for k in ("train", "val", "test")]
        if None not in parts and abs(sum(parts) - 1.0) > 1e-6:
            raise forms.ValidationError(_("Train, val and test fractions must add up to 1."))
        return data


def render_card(text: str) -> str:
    """Markdown -> HTML, then sanitised with nh3 (allow-list; no attributes but safe links)."""
    html = markdown.markdown(text, extensions=["tables"], output_format="html")
    return nh3.clean(html, tags=CARD_TAGS, attributes={"a": {"href"}}, url_schemes={"http", "https"})


@role_required(Role.RESEARCHER)
def dataset_projects(request: HttpRequest) -> HttpResponse:
    return render(request, "labeling/datasets/projects.html", {"projects": projects_for_researcher(request.user)})


@role_required(Role.RESEARCHER)
@require_http_methods(["GET", "POST"])
def dataset_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_researcher(request.user, slug)
    form = VersionForm(request.POST or None, project=project)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            version = dataset_version_create(
                project=project, created_by=request.user, name=d["name"],
                categories=[c.id for c in d["categories"]] or None, min_posterior=d["min_posterior"],
                accepted_only=d["accepted_only"], include_gold=d["include_gold"],
                exclude_near_duplicates=d["exclude_near_duplicates"], split=(d["train"], d["val"], d["test"]),
                seed=d["seed"], language=translation.get_language(),
            )  # fmt: skip
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            text = _("Version %(number)s created with %(count)s images.")
            messages.success(request, text % {"number": version.number, "count": version.items_count})
            return redirect("dataset_detail", pk=version.pk)
    versions = sel.versions_of_project(project)
    return render(request, "labeling/datasets/list.html", {"project": project, "form": form, "versions": versions})


def _chart(version: object) -> dict:
    per_class = version.stats.get("per_class", {})
    totals = [(c["index"], c["name"], per_class.get(c["name"], {}).get("total", 0)) for c in version.classes]
    top = max((t for *_, t in totals), default=0) or 1
    bar_h, width = 22, 600
    bars = [{"index": i, "name": n, "count": t, "y": k * bar_h, "w": max(1, round(400 * t / top)), "ty": k * bar_h + 15}
            for k, (i, n, t) in enumerate(totals)]  # fmt: skip
    return {"bars": bars, "height": max(bar_h * len(bars), bar_h), "width": width}


@role_required(Role.RESEARCHER)
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    version = sel.version_for_researcher(request.user, pk)
    latest = sel.latest_exports_by_format(version)
    boxes = version.project.task_type == Project.TaskType.BOXES
    formats = [{"format": f, "export": latest.get(f)} for f, module in FORMATS.items()
               if boxes or not getattr(module, "BOX_PROJECTS_ONLY", False)]  # fmt: skip
    others = sel.versions_of_project(version.project).exclude(pk=version.pk)
    return render(request, "labeling/datasets/detail.html", {
        "version": version, "project": version.project, "card_html": render_card(version.card),
        "chart": _chart(version), "formats": formats, "others": others,
    })  # fmt: skip


@role_required(Role.RESEARCHER)
@require_POST
def dataset_export_start(request: HttpRequest, pk: int) -> HttpResponse:
    """No-JS fallback of the export buttons (the JS posts to the API and polls)."""
    version = sel.version_for_researcher(request.user, pk)
    fmt = request.POST.get("format", "")
    options = {"folder_names": request.POST["folder_names"]} if request.POST.get("folder_names") else {}
    try:
        export = dataset_export_request(version=version, fmt=fmt, created_by=request.user, options=options)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Export %(format)s is %(status)s.") % {"format": export.format, "status": status_text(export.status)},
        )
    return redirect("dataset_detail", pk=version.pk)


@role_required(Role.RESEARCHER)
def dataset_diff(request: HttpRequest, a: int, b: int) -> HttpResponse:
    va = sel.version_for_researcher(request.user, a)
    vb = sel.version_for_researcher(request.user, b)
    diff = sel.dataset_version_diff(va, vb) if va.project_id == vb.project_id else None
    if diff is None:
        messages.error(request, _("Both versions must belong to the same project."))
    return render(request, "labeling/datasets/diff.html", {"a": va, "b": vb, "diff": diff})
