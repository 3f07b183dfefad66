"""Researcher pages: categories (list, add, edit, import), ingest (upload), batch progress, images grid."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from annotate.exceptions import ServiceError
from annotate.i18n import reason_text
from annotate.inputs import ascii_int
from annotate.roles import Role, role_required
from labeling.models import IngestBatch
from labeling.selectors.categories import category_tree
from labeling.selectors.projects import project_for_researcher
from labeling.services.categories import categories_import, category_delete, category_update
from labeling.services.ingestion import batch_report, batch_retry
from labeling.services.ingestion.selectors import (
    batch_for_researcher,
    batch_rejections,
    category_for_project,
    image_sources_for_project,
)
from labeling.services.ingestion.server_folder import (
    batch_start_from_server_folder,
    server_folders_allowed,
    server_root,
)
from labeling.services.ingestion.uploads import batch_start_from_uploads
from labeling.services.projects import category_upsert


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def clean(self, data: object, initial: object = None) -> list:
        items = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in items if item]


class CategoryForm(forms.Form):
    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    definition = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000, label=gettext_lazy("Definition")
    )
    wnid = forms.CharField(max_length=32, required=False, label=gettext_lazy("WordNet id"))
    parent = forms.CharField(
        max_length=200,
        required=False,
        label=gettext_lazy("Parent"),
        help_text=gettext_lazy("Name of the parent category"),
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("File"), help_text=gettext_lazy("CSV (name,definition,wnid,parent) or JSON list")
    )


class UploadForm(forms.Form):
    KINDS = [
        ("upload", gettext_lazy("Image files")),
        ("archive", gettext_lazy("A .zip / .tar / .tar.gz archive")),
        ("urls", gettext_lazy("A URL list")),
    ]
    SERVER = ("server", gettext_lazy("A folder on the server (admins)"))
    kind = forms.ChoiceField(choices=KINDS, widget=forms.RadioSelect, initial="upload", label=gettext_lazy("Kind"))
    files = MultipleFileField(
        widget=MultipleFileInput(attrs={"multiple": True}), required=False, label=gettext_lazy("Files")
    )
    folder = forms.CharField(
        max_length=1000, required=False, label=gettext_lazy("Folder"),
        help_text=gettext_lazy("Server folder, relative to the server's ingest root"),
    )  # fmt: skip
    category = forms.CharField(
        max_length=200, required=False, label=gettext_lazy("Category"),
        help_text=gettext_lazy("Candidate category for every file"),
    )  # fmt: skip

    def __init__(self, *args: object, server_folders: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if server_folders:
            self.fields["kind"].choices = [*self.KINDS, self.SERVER]
        else:
            del self.fields["folder"]


@role_required(Role.RESEARCHER)
@require_http_methods(["GET", "POST"])
def project_categories(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_researcher(request.user, slug)
    form, import_form = CategoryForm(prefix="add"), ImportForm(prefix="import")
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "add":
                form = CategoryForm(request.POST, prefix="add")
                if form.is_valid():
                    category_upsert(
                        project=project, **{**form.cleaned_data, "parent": form.cleaned_data["parent"] or None}
                    )
                    messages.success(request, _("Category %(name)s saved.") % {"name": form.cleaned_data["name"]})
                    return redirect("project_categories", slug=slug)
            elif action == "import":
                import_form = ImportForm(request.POST, request.FILES, prefix="import")
                if import_form.is_valid():
                    upload = import_form.cleaned_data["file"]
                    result = categories_import(project=project, data=upload.read(6 * 1024 * 1024), filename=upload.name)
                    text = _("%(created)s created, %(updated)s updated.")
                    messages.success(request, text % {"created": result.created, "updated": result.updated})
                    for error in result.errors[:20]:
                        messages.error(request, error)
                    return redirect("project_categories", slug=slug)
            elif action == "delete":
                category = category_for_project(project, ascii_int(request.POST.get("pk", ""), minimum=1) or 0)
                category_delete(category=category)
                messages.success(request, _("Category %(name)s deleted.") % {"name": category.name})
                return redirect("project_categories", slug=slug)
        except ServiceError as exc:
            messages.error(request, exc.message)
    categories = category_tree(project=project)  # rows: category, depth, children
    return render(
        request,
        "labeling/ingest/categories.html",
        {"project": project, "categories": categories, "form": form, "import_form": import_form},
    )


@role_required(Role.RESEARCHER)
@require_http_methods(["GET", "POST"])
def category_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = project_for_researcher(request.user, slug)
    category = category_for_project(project, pk)
    initial = {**{f: getattr(category, f) for f in ("name", "definition", "wnid")}, "parent": category.parent or ""}
    form = CategoryForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        parent = project.categories.filter(name=data["parent"]).first() if data["parent"] else None
        try:
            if data["parent"] and parent is None:
                raise ServiceError(
                    _("No category %(name)r in this project.") % {"name": data["parent"]}, code="bad_parent"
                )
            category_update(
                category=category, name=data["name"], definition=data["definition"], wnid=data["wnid"], parent=parent
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Category saved."))
            return redirect("project_categories", slug=slug)
    return render(
        request, "labeling/ingest/category_edit.html", {"project": project, "category": category, "form": form}
    )


@role_required(Role.RESEARCHER)
@require_http_methods(["GET", "POST"])
def project_ingest(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_researcher(request.user, slug)
    server = server_folders_allowed(request.user)
    form = UploadForm(request.POST or None, request.FILES or None, server_folders=server)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if data["kind"] == "server":
                batch = batch_start_from_server_folder(
                    project=project, user=request.user, folder=data["folder"], category=data["category"]
                )
            else:
                batch = batch_start_from_uploads(
                    project=project, kind=data["kind"], files=data["files"], category=data["category"],
                    created_by=request.user,
                )  # fmt: skip
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            return redirect("batch_detail", pk=batch.pk)
    batches = project.ingest_batches.order_by("-id")[:50]
    context = {"project": project, "form": form, "batches": batches, "server_root": server_root() if server else None}
    return render(request, "labeling/ingest/ingest.html", context)


def _status(batch: IngestBatch) -> dict:
    report = batch_report(batch=batch)
    return {
        **report,
        "status": batch.status,
        "total": batch.total,
        "processed": batch.processed,
        "error": batch.error,
        "finished": batch.status in {IngestBatch.Status.DONE, IngestBatch.Status.FAILED},
        "reasons": {code: reason_text(code) for code in report["rejections"]},  # in the page's language
    }


@role_required(Role.RESEARCHER)
@require_GET
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    batch = batch_for_researcher(request.user, pk)
    context = {"batch": batch, "project": batch.project, "status": _status(batch), "errors": batch_rejections(batch)}
    return render(request, "labeling/ingest/batch.html", context)


@role_required(Role.RESEARCHER)
@require_http_methods(["POST"])
def batch_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    batch = batch_for_researcher(request.user, pk)
    try:
        batch_retry(batch=batch)
        messages.success(request, _("Batch %(id)s queued again.") % {"id": batch.pk})
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("batch_detail", pk=batch.pk)


@role_required(Role.RESEARCHER)
@require_GET
def batch_status(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(_status(batch_for_researcher(request.user, pk)))


def _int_param(request: HttpRequest, name: str) -> int | None:
    return ascii_int(request.GET.get(name, ""), minimum=0)


@role_required(Role.RESEARCHER)
@require_GET
def project_images(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_researcher(request.user, slug)
    near = {"yes": True, "no": False}.get(request.GET.get("near_duplicate", ""))
    qs = image_sources_for_project(
        project, category=_int_param(request, "category"), batch=_int_param(request, "batch"), near_duplicate=near
    )
    page = Paginator(qs, 60).get_page(request.GET.get("page"))
    context = {
        "project": project,
        "page": page,
        "categories": project.categories.order_by("name"),
        "filters": {"category": _int_param(request, "category"), "batch": _int_param(request, "batch"), "near": near},
    }
    return render(request, "labeling/ingest/images.html", context)
