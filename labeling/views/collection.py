"""HTML pages of collection and contribution: the researcher's collect page (start a run, its progress, per-source
and per-query statistics), the contribute page (volunteers and researchers submit images), moderation."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from annotate.exceptions import ServiceError
from annotate.inputs import ascii_int
from annotate.roles import Role, role_required
from labeling.models import CollectionRun, Contribution
from labeling.selectors.collection import query_stats, runs_for_project, source_stats
from labeling.selectors.projects import one_or_404, project_for_researcher, project_for_volunteer
from labeling.services.collection.contributions import contribution_moderate, contribution_submit
from labeling.services.collection.licenses import CODES
from labeling.services.collection.run import collection_plan, collection_run_create, collection_start
from labeling.services.collection.settings import category_terms_set, project_collection_set, terms_parse
from labeling.services.collection.sources import SOURCES


class CollectForm(forms.Form):
    sources = forms.MultipleChoiceField(choices=[(s, s) for s in SOURCES], widget=forms.CheckboxSelectMultiple,
                                        initial=["openverse", "commons"], label=gettext_lazy("Sources"))  # fmt: skip
    per_category = forms.IntegerField(min_value=1, max_value=10_000, initial=100,
                                      label=gettext_lazy("Candidates per category"))  # fmt: skip


class CollectSettingsForm(forms.Form):
    languages = forms.CharField(required=False, label=gettext_lazy("Other languages (comma-separated codes)"))
    allowed_licenses = forms.MultipleChoiceField(choices=[(c, c) for c in CODES], widget=forms.CheckboxSelectMultiple,
                                                 required=False, label=gettext_lazy("Licences to keep"))  # fmt: skip
    contributions_open = forms.BooleanField(required=False, label=gettext_lazy("Take contributed images"))
    contribution_license = forms.CharField(required=False, max_length=100, label=gettext_lazy("Their licence"))


class TermsForm(forms.Form):
    category = forms.IntegerField(min_value=1)
    synonyms = forms.CharField(required=False, max_length=4000)
    names = forms.CharField(required=False, max_length=4000, widget=forms.Textarea)


def _settings_post(request: HttpRequest, project) -> None:
    if request.POST.get("action") == "terms":
        form = TermsForm(request.POST)
        if not form.is_valid():
            raise ServiceError(_("Check the category's names."), code="invalid_names")
        category = one_or_404(project.categories.all(), form.cleaned_data["category"], what="category")
        category_terms_set(category=category, synonyms=form.cleaned_data["synonyms"].split(","),
                           names=terms_parse(form.cleaned_data["names"]))  # fmt: skip
        return
    form = CollectSettingsForm(request.POST)
    if not form.is_valid():
        raise ServiceError(_("Check the collection settings."), code="invalid_settings")
    d = form.cleaned_data
    project_collection_set(
        project=project,
        languages=d["languages"].split(","),
        allowed_licenses=d["allowed_licenses"],
        contributions_open=d["contributions_open"],
        contribution_license=d["contribution_license"],
    )


@role_required(Role.RESEARCHER)
@require_http_methods(["GET", "POST"])
def project_collect(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_researcher(request.user, slug)
    form = CollectForm()
    if request.method == "POST" and request.POST.get("action") in ("settings", "terms"):
        try:
            _settings_post(request, project)
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Collection settings saved."))
        return redirect("project_collect", slug=slug)
    if request.method == "POST":
        form = CollectForm(request.POST)
        if form.is_valid():
            try:
                with transaction.atomic():
                    run = collection_run_create(project=project, created_by=request.user, **form.cleaned_data)
                    collection_start(run=run)
            except ServiceError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, _("Collection started."))
                return redirect("project_collect", slug=slug)
    runs = list(runs_for_project(project=project)[:10])
    latest = runs[0] if runs else None
    stats = query_stats(project=project, run=latest) if latest else []
    running = latest is not None and latest.status not in (CollectionRun.Status.DONE, CollectionRun.Status.FAILED)
    settings_form = CollectSettingsForm(
        initial={
            "languages": ", ".join(project.collect_languages or []),
            "allowed_licenses": project.allowed_licenses or [],
            "contributions_open": project.contributions_open,
            "contribution_license": project.contribution_license,
        }
    )
    context = {"project": project, "form": form, "runs": runs, "latest": latest, "stats": stats,
               "per_source": source_stats(stats), "running": running, "settings_form": settings_form,
               "plan": collection_plan(project=project)}  # fmt: skip
    return render(request, "labeling/collection/collect.html", context)


class ContributeForm(forms.Form):
    credit = forms.CharField(max_length=200, required=False, label=gettext_lazy("Credit me as"))
    category = forms.ChoiceField(required=False, label=gettext_lazy("What the images show"))
    consent = forms.BooleanField(
        required=True,
        label=gettext_lazy("I took these images or may share them, and I license them under the project's licence."),
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_contribute(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_volunteer(request.user, slug)
    choices = [("", "—"), *[(str(c.pk), c.name) for c in project.categories.order_by("name")]]
    form = ContributeForm()
    form.fields["category"].choices = choices
    if request.method == "POST":
        form = ContributeForm(request.POST)
        form.fields["category"].choices = choices
        if form.is_valid():
            pk = ascii_int(form.cleaned_data["category"] or "", minimum=1)
            category = project.categories.filter(pk=pk).first() if pk else None
            try:
                contribution_submit(project=project, user=request.user, files=request.FILES.getlist("files"),
                                    consent=form.cleaned_data["consent"], credit=form.cleaned_data["credit"],
                                    category=category)  # fmt: skip
            except ServiceError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, _("Thank you: your images are being checked and will be verified."))
                return redirect("project_contribute", slug=slug)
    mine = Contribution.objects.filter(project=project, contributor=request.user).select_related("batch")[:20]
    return render(request, "labeling/collection/contribute.html", {"project": project, "form": form, "mine": mine})


@role_required(Role.RESEARCHER)
@require_http_methods(["GET", "POST"])
def project_contributions(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_researcher(request.user, slug)
    contributions = Contribution.objects.filter(project=project).select_related("batch", "contributor", "category")
    if request.method == "POST":
        contribution = one_or_404(contributions, request.POST.get("pk", ""), what="contribution")
        contribution_moderate(contribution=contribution, approve=request.POST.get("action") == "approve",
                              user=request.user)  # fmt: skip
        messages.success(request, _("Contribution moderated."))
        return redirect("project_contributions", slug=slug)
    return render(request, "labeling/collection/contributions.html",
                  {"project": project, "contributions": contributions[:200]})  # fmt: skip
