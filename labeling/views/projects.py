"""Researcher pages: project list, create, detail (settings, people). Thin: forms + services."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from annotate.exceptions import ServiceError
from annotate.roles import Role, has_role, role_required
from labeling.forms import ProjectCreateForm, ProjectPeopleForm, ProjectSettingsForm
from labeling.models import Item
from labeling.selectors.projects import project_for_reviewer, projects_for_researcher
from labeling.selectors.quality import progress_by_category
from labeling.selectors.webhooks import webhook_deliveries
from labeling.services.project_settings import project_people_update, project_update
from labeling.services.projects import project_create


@role_required(Role.RESEARCHER)
def project_list(request: HttpRequest) -> HttpResponse:
    projects = projects_for_researcher(request.user).annotate(
        n_items=Count("items"), n_open=Count("items", filter=Q(items__status=Item.Status.OPEN))
    )
    return render(request, "labeling/projects/list.html", {"projects": projects})


@role_required(Role.RESEARCHER)
@require_http_methods(["GET", "POST"])
def project_create_view(request: HttpRequest) -> HttpResponse:
    form = ProjectCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            project = project_create(
                slug=data["slug"],
                name=data["name"],
                task_type=data["task_type"],
                box_mode=data["box_mode"],
                instructions=data["instructions"],
                min_votes=data["min_votes"],
                max_votes=data["max_votes"],
                gold_rate=data["gold_rate"],
                visibility=data["visibility"],
                categories=data["categories"],
                owner=request.user,
            )
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Project %(name)s created.") % {"name": project.name})
            return redirect("project_detail", slug=project.slug)
    return render(request, "labeling/projects/create.html", {"form": form})


@role_required(Role.RESEARCHER, Role.REVIEWER)
@require_http_methods(["GET", "POST"])
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_reviewer(request.user, slug)
    can_edit = has_role(request.user, Role.ADMIN) or project.owners.filter(pk=request.user.pk).exists()
    settings_form = ProjectSettingsForm(instance=project, prefix="settings")
    people_form = ProjectPeopleForm(prefix="people")
    if request.method == "POST":
        if not can_edit:
            messages.error(request, _("Only the project's owners can change it."))
            return redirect("project_detail", slug=slug)
        if "settings-name" in request.POST:
            settings_form = ProjectSettingsForm(request.POST, instance=project, prefix="settings")
            if settings_form.is_valid():
                return _apply(request, slug, lambda: project_update(project=project, **settings_form.cleaned_data))
        else:
            people_form = ProjectPeopleForm(request.POST, prefix="people")
            if people_form.is_valid():
                d = people_form.cleaned_data
                return _apply(
                    request,
                    slug,
                    lambda: project_people_update(
                        project=project, role=d["role"], username=d["username"], add=d["action"] == "add"
                    ),
                )
        project.refresh_from_db()
    counts = Item.objects.filter(project=project).aggregate(
        total=Count("id"),
        open=Count("id", filter=Q(status=Item.Status.OPEN, is_gold=False)),
        gold=Count("id", filter=Q(is_gold=True)),
    )
    context = {
        "project": project,
        "can_edit": can_edit,
        "settings_form": settings_form,
        "people_form": people_form,
        "counts": counts,
        "progress": progress_by_category(project=project),
        "categories": project.categories.all()[:200],
        "n_categories": project.categories.count(),
        "people": {role: getattr(project, role).order_by("username") for role in ("owners", "reviewers", "members")},
        # Researcher-only (owners and admins): endpoints' URLs and errors are the project's configuration.
        "webhook_log": webhook_deliveries(project, limit=5) if can_edit else None,
    }
    return render(request, "labeling/projects/detail.html", context)


def _apply(request: HttpRequest, slug: str, action) -> HttpResponse:
    try:
        action()
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Saved."))
    return redirect("project_detail", slug=slug)
