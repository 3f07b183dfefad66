from django.apps import AppConfig


class CrowdpayConfig(AppConfig):
    name = "crowdpay"
    verbose_name = "Crowd payment"
    default_auto_field = "django.db.models.BigAutoField"
