"""Volunteer pages: the labeling page (driven by static/labeling/label_*.js), profile, leaderboard."""

from __future__ import annotations

import markdown
import nh3
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from annotate.exceptions import ServiceError
from labeling.forms import LeaderboardOptForm
from labeling.selectors.labeling import (
    GOLD_FEEDBACK_BLOCK,
    project_leaderboard,
    volunteer_gold_accuracy,
    volunteer_progress,
    volunteer_project_counts,
    volunteer_shows_on_leaderboard,
)
from labeling.selectors.projects import project_for_volunteer
from labeling.services.assignment import GRID_MAX, GRID_MIN
from labeling.services.quality.appeals import annotator_block_notice, appeal_submit
from labeling.services.volunteers import volunteer_profile_update


def instructions_html(text: str) -> str:
    """Project instructions: markdown rendered, then sanitised (no scripts, no styles, no handlers)."""
    tags = {"p", "em", "strong", "ul", "ol", "li", "a", "code", "br", "h1", "h2", "h3", "h4", "h5", "h6", "pre",
            "blockquote", "hr"}  # fmt: skip
    return nh3.clean(markdown.markdown(text or ""), tags=tags)


@login_required
def label(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_volunteer(request.user, slug)
    notice = annotator_block_notice(project=project, user=request.user)
    if notice is not None:  # tell them why, and how to ask a reviewer to look again
        context = {
            "project": project,
            "notice": notice,
            "progress": volunteer_progress(user=request.user, project=project),
        }
        return render(request, "labeling/label/blocked.html", context, status=403)
    batch = (GRID_MIN + GRID_MAX) // 2 if project.task_type == "verify" else 5
    config = {
        "project": project.slug,
        "taskType": project.task_type,
        "batch": batch,
        "nextUrl": reverse("api-label-next", kwargs={"slug": project.slug}),
        "answersUrl": reverse("api-label-answers", kwargs={"slug": project.slug}),
        "skipUrl": reverse("api-label-skip", kwargs={"slug": project.slug}),
        "releaseUrl": reverse("api-label-release", kwargs={"slug": project.slug}),
    }
    context = {
        "project": project,
        "config": config,
        "instructions": instructions_html(project.instructions),
        "progress": volunteer_progress(user=request.user, project=project),
    }
    return render(request, "labeling/label/page.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    form = LeaderboardOptForm(
        request.POST if request.method == "POST" else None,
        initial={"show_on_leaderboard": volunteer_shows_on_leaderboard(user=request.user)},
    )
    if request.method == "POST" and form.is_valid():
        volunteer_profile_update(user=request.user, show_on_leaderboard=form.cleaned_data["show_on_leaderboard"])
        messages.success(request, _("Your leaderboard preference is saved."))
        return redirect("profile")
    context = {
        "form": form,
        "progress": volunteer_progress(user=request.user),
        "per_project": volunteer_project_counts(user=request.user),
        "gold_accuracy": volunteer_gold_accuracy(user=request.user),
        "feedback_block": GOLD_FEEDBACK_BLOCK,
    }
    return render(request, "labeling/profile.html", context)


@login_required
def leaderboard(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_volunteer(request.user, slug)
    context = {
        "project": project,
        "rows": project_leaderboard(project=project),
        "me_shown": volunteer_shows_on_leaderboard(user=request.user),
    }
    return render(request, "labeling/leaderboard.html", context)


@login_required
@require_http_methods(["POST"])
def label_appeal(request: HttpRequest, slug: str) -> HttpResponse:
    """A blocked volunteer's note to the reviewers (shown on the annotators page)."""
    project = project_for_volunteer(request.user, slug)
    try:
        appeal_submit(project=project, user=request.user, text=request.POST.get("text", ""))
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Your note was sent to the project's reviewers."))
    return redirect("label", slug=project.slug)
