"""The annotation import page (project owners, admins): the same service as the API and the command."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from annotate.exceptions import ServiceError
from annotate.roles import Role, role_required
from labeling.selectors.projects import project_for_researcher
from labeling.services.imports import (
    FORMATS,
    MAX_UPLOAD_BYTES,
    MODES,
    ImportFailed,
    annotations_import,
    files_from_upload,
)


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy("A COCO JSON, a CSV (image,label), a VOC XML, or a zip of YOLO / VOC files."),
    )
    format = forms.ChoiceField(
        label=gettext_lazy("Format"), choices=[(f, f.upper() if f != "yolo" else "YOLO") for f in FORMATS]
    )
    mode = forms.ChoiceField(
        label=gettext_lazy("Import as"),
        choices=[(m, m) for m in MODES],
        initial="votes",
        help_text=gettext_lazy(
            "gold: known answers that score annotators. votes: an imported annotator's votes, weighed by the "
            "reliability the quality engine estimates for it."
        ),
    )
    source = forms.RegexField(
        regex=r"^[A-Za-z0-9_.-]{1,40}$",
        initial="imported",
        label=gettext_lazy("Source"),
        help_text=gettext_lazy("Name of the imported annotator (votes): its user is imported-NAME."),
    )


@role_required(Role.RESEARCHER, Role.ADMIN)
@require_http_methods(["GET", "POST"])
def annotation_import(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_researcher(request.user, slug)
    form = ImportForm(request.POST or None, request.FILES or None)
    result, errors, status = None, [], 200
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        d = form.cleaned_data
        try:
            if upload.size > MAX_UPLOAD_BYTES:
                raise ServiceError(_("The file is too large."), code="too_large")
            files = files_from_upload(upload.name, upload.read())
            result = annotations_import(
                project=project, fmt=d["format"], files=files, mode=d["mode"], source_name=d["source"]
            )
            text = _("Imported: %(created)s written for %(matched)s image(s).")
            messages.success(request, text % {"created": result.created, "matched": result.matched})
        except ImportFailed as exc:
            errors, status = exc.result.errors, 400
            messages.error(request, exc.message)
        except ServiceError as exc:
            status = 400
            messages.error(request, exc.message)
    return render(
        request,
        "labeling/imports/import.html",
        {"project": project, "form": form, "result": result, "errors": errors},
        status=status,
    )
