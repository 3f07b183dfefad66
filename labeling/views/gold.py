"""Researcher page: import gold from a CSV / JSON file and see the result of every entry."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from annotate.exceptions import ServiceError
from labeling.selectors.projects import project_for_researcher
from labeling.services.quality import gold_import_file
from labeling.services.quality.gold_import import MAX_GOLD_FILE_BYTES

ROWS_SHOWN = 1000


class GoldImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy("CSV image,label[,category] (header optional), or JSON for box projects"),
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_gold(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_researcher(request.user, slug)  # 404 for anyone but the owners (and admins)
    form = GoldImportForm()
    result = error = None
    if request.method == "POST":
        form = GoldImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                result = gold_import_file(
                    project=project, data=upload.read(MAX_GOLD_FILE_BYTES + 1), filename=upload.name
                )
            except ServiceError as exc:
                error = exc.message
    context = {
        "project": project,
        "form": form,
        "error": error,
        "result": result,
        "summary": result.summary() if result else None,
        "rows": result.rows[:ROWS_SHOWN] if result else [],
        "rows_hidden": max(0, len(result.rows) - ROWS_SHOWN) if result else 0,
        "gold_count": project.items.filter(is_gold=True).count(),
    }
    return render(request, "labeling/gold/import.html", context, status=400 if error else 200)
