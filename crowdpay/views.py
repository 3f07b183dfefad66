"""HTML views of the paid crowd: marketplace arrival and completion, a worker's earnings, a project's pay page."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from annotate.exceptions import ServiceError
from annotate.inputs import BIGINT_MAX, INT_MAX
from annotate.roles import Role, role_required
from crowdpay.models import MarketplaceSession, Payout, PayPolicy
from crowdpay.selectors import fair_pay, forecast, worker_earnings
from crowdpay.services.handoff import arrival_parse, marketplace_arrive, marketplace_completion
from crowdpay.services.payouts import payout_create
from crowdpay.services.policy import pay_policy_set
from labeling.models import Project
from labeling.selectors.projects import project_for_researcher


@require_http_methods(["GET"])
def marketplace_start(request: HttpRequest, slug: str) -> HttpResponse:
    """The study URL: /p/<slug>/start/?PROLIFIC_PID=…&STUDY_ID=…&SESSION_ID=… (or MTurk's workerId, …)."""
    # Only a project that takes marketplace workers has a study URL: any other is a 404, never a page that names
    # it (an invite-only project stays unseen; tests/security/test_sec_idor_matrix.py).
    takes_workers = Q(pay_policy__prolific_enabled=True) | Q(pay_policy__mturk_enabled=True)
    project = get_object_or_404(Project.objects.filter(takes_workers), slug=slug)
    try:
        arrival = arrival_parse(request.GET)
        if arrival is None:
            raise ServiceError(_("Open this study from the marketplace's link."), code="no_marketplace_params")
        session = marketplace_arrive(project=project, arrival=arrival)
    except ServiceError as exc:
        return render(request, "crowdpay/arrival_error.html", {"project": project, "message": exc.message},
                      status=exc.status_code)  # fmt: skip
    login(request, session.user, backend="django.contrib.auth.backends.ModelBackend")
    request.session["marketplace_session"] = session.pk
    return redirect("marketplace_task", slug=slug)


def _session_of(request: HttpRequest, slug: str) -> MarketplaceSession:
    session = MarketplaceSession.objects.filter(project__slug=slug, user=request.user).select_related("project")
    found = session.first()
    if found is None:
        raise Http404("No marketplace session for this project.")
    return found


@login_required
def marketplace_task(request: HttpRequest, slug: str) -> HttpResponse:
    """The worker's study page: progress, a link to the labeling page, and the completion code once done."""
    session = _session_of(request, slug)
    completion = marketplace_completion(session=session)
    response = render(request, "crowdpay/task.html", {"project": session.project, "session": session, "c": completion})
    response["Cache-Control"] = "no-store"  # the completion code claims the worker's pay: a secret
    return response


@login_required
def earnings(request: HttpRequest) -> HttpResponse:
    return render(request, "crowdpay/earnings.html", {"rows": worker_earnings(user=request.user)})


class PayForm(forms.Form):
    reward_cents = forms.IntegerField(min_value=0, max_value=1_000_000, label=gettext_lazy("Reward (cents)"))
    grid_size = forms.IntegerField(
        min_value=0, max_value=50, label=gettext_lazy("Answers per paid grid (0 = per answer)")
    )
    # maxima: what the columns hold (a number past them reached the database: a 500)
    budget_cents = forms.IntegerField(
        min_value=0, max_value=BIGINT_MAX, required=False, label=gettext_lazy("Budget (cents, empty = none)")
    )
    currency = forms.CharField(min_length=3, max_length=3, label=gettext_lazy("Currency"))
    bonus_cents = forms.IntegerField(
        min_value=0, max_value=INT_MAX, label=gettext_lazy("Quality bonus per period (cents)")
    )
    bonus_wilson_min = forms.FloatField(min_value=0, max_value=1, label=gettext_lazy("Bonus: lowest Wilson bound"))
    bonus_min_gold = forms.IntegerField(
        min_value=1, max_value=INT_MAX, label=gettext_lazy("Bonus: known-answer items at least")
    )
    min_hourly_cents = forms.IntegerField(
        min_value=0, max_value=INT_MAX, label=gettext_lazy("Minimum hourly pay (cents)")
    )
    completion_answers = forms.IntegerField(
        min_value=1, max_value=INT_MAX, label=gettext_lazy("Answers before the completion code")
    )
    completion_code = forms.CharField(max_length=64, required=False, label=gettext_lazy("Completion code"))
    prolific_enabled = forms.BooleanField(required=False, label="Prolific")
    mturk_enabled = forms.BooleanField(required=False, label="Amazon Mechanical Turk")


@role_required(Role.RESEARCHER)
@require_http_methods(["GET", "POST"])
def project_pay(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_researcher(request.user, slug)
    policy = PayPolicy.objects.filter(project=project).first() or PayPolicy(project=project)
    initial = {f: getattr(policy, f) for f in PayForm.base_fields if hasattr(policy, f)}
    initial.update(reward_cents=project.reward_cents, budget_cents=project.budget_cents)
    form = PayForm(initial=initial)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "payout":
            fmt = request.POST.get("format", "")
            if fmt not in Payout.Format.values:
                messages.error(request, _("Unknown payout format."))
                return redirect("project_pay", slug=slug)
            result = payout_create(project=project, fmt=fmt, created_by=request.user)
            response = HttpResponse(result.text, content_type="text/csv; charset=utf-8")
            name = f"payout-{project.slug}-{result.payout.pk if result.payout else 'empty'}-{fmt}.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
            return response
        form = PayForm(request.POST)
        if form.is_valid():
            d = dict(form.cleaned_data)
            try:
                pay_policy_set(project=project, reward_cents=d.pop("reward_cents"), budget_cents=d.pop("budget_cents"),
                               **d)  # fmt: skip
            except ServiceError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, _("Pay settings saved."))
                return redirect("project_pay", slug=slug)
    context = {
        "project": project, "form": form, "policy": policy, "forecast": forecast(project=project),
        "fair": fair_pay(project=project), "payouts": Payout.objects.filter(project=project)[:20],
        "start_url": request.build_absolute_uri(f"/p/{project.slug}/start/"),
    }  # fmt: skip
    response = render(request, "crowdpay/project_pay.html", context)
    response["Cache-Control"] = "no-store"  # the form holds the study's completion code
    return response
