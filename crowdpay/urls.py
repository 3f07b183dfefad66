"""HTML routes of crowdpay (included from annotate/urls.py)."""

from django.urls import path

from crowdpay import views

urlpatterns = [
    path("p/<slug:slug>/start/", views.marketplace_start, name="marketplace_start"),
    path("p/<slug:slug>/", views.marketplace_task, name="marketplace_task"),
    path("earnings/", views.earnings, name="earnings"),
    path("projects/<slug:slug>/pay/", views.project_pay, name="project_pay"),
]
