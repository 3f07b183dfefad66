from django.urls import path

from labeling.api import webhooks

urlpatterns = [
    path("projects/<slug:slug>/webhooks/", webhooks.WebhookListCreateApi.as_view(), name="api-webhooks"),
    path("projects/<slug:slug>/webhooks/<int:pk>/", webhooks.WebhookDetailApi.as_view(), name="api-webhook"),
    path("projects/<slug:slug>/webhooks/<int:pk>/test/", webhooks.WebhookTestApi.as_view(), name="api-webhook-test"),
    path(
        "projects/<slug:slug>/webhooks/deliveries/",
        webhooks.WebhookDeliveriesApi.as_view(),
        name="api-webhook-deliveries",
    ),
]
