"""Researcher page: a project's webhook endpoints (add, test, delete) and the delivery log."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from annotate.exceptions import ServiceError
from annotate.inputs import ascii_int
from annotate.roles import Role, role_required
from labeling.models import WebhookEvent
from labeling.selectors.projects import project_for_researcher
from labeling.selectors.webhooks import webhook_deliveries, webhook_for_project, webhooks_for_project
from labeling.services.webhooks import SUBSCRIBABLE, webhook_endpoint_create, webhook_endpoint_delete, webhook_send_test


class WebhookForm(forms.Form):
    url = forms.CharField(max_length=500, label=gettext_lazy("HTTPS URL"))
    events = forms.MultipleChoiceField(
        choices=[(e, WebhookEvent(e).label) for e in SUBSCRIBABLE],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label=gettext_lazy("Events"),
        help_text=gettext_lazy("None ticked: every event."),
    )


@role_required(Role.RESEARCHER)
@require_http_methods(["GET", "POST"])
def project_webhooks(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_researcher(request.user, slug)
    form = WebhookForm(prefix="add")
    new_secret = None
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "add":
                form = WebhookForm(request.POST, prefix="add")
                if form.is_valid():
                    created = webhook_endpoint_create(project=project, created_by=request.user, **form.cleaned_data)
                    new_secret = created.secret  # rendered once, never stored in the session or shown again
                    form = WebhookForm(prefix="add")
            else:
                endpoint = webhook_for_project(project, ascii_int(request.POST.get("pk", ""), minimum=1) or 0)
                if action == "test":
                    webhook_send_test(endpoint=endpoint)
                    messages.success(request, _("Test event queued; its delivery appears in the log below."))
                elif action == "delete":
                    webhook_endpoint_delete(endpoint=endpoint)
                    messages.success(request, _("Webhook deleted."))
                return redirect("project_webhooks", slug=slug)
        except ServiceError as exc:
            messages.error(request, exc.message)
    context = {
        "project": project,
        "form": form,
        "new_secret": new_secret,
        "endpoints": webhooks_for_project(project),
        "deliveries": webhook_deliveries(project, limit=100),
    }
    response = render(request, "labeling/webhooks/webhooks.html", context)
    response["Cache-Control"] = "no-store"  # the page may show a new endpoint's one-time secret
    return response
