"""Celery task: webhook deliveries (queue `default`), retried with exponential backoff by the service's verdict."""

from celery import shared_task

from labeling.services.webhooks import (
    webhook_deliveries_resume_stale,
    webhook_delivery_attempt,
    webhook_delivery_give_up,
)


@shared_task(
    name="default.webhook_deliver",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # the service counts attempts (WEBHOOK_MAX_ATTEMPTS) and ends the delivery failed
    time_limit=120,
    soft_time_limit=100,
    ignore_result=True,
)
def webhook_deliver(self, delivery_id: int) -> None:
    try:
        delay = webhook_delivery_attempt(delivery_id=delivery_id)
    except Exception as exc:
        webhook_delivery_give_up(delivery_id=delivery_id, reason=f"internal_error: {type(exc).__name__}: {exc}")
        raise
    if delay is not None:
        raise self.retry(countdown=delay)


@shared_task(name="default.webhooks_resume_stale", time_limit=60, soft_time_limit=50)
def resume_stale() -> int:
    """Periodic (celery beat): re-enqueue deliveries whose message was lost, so every one ends delivered/failed."""
    return len(webhook_deliveries_resume_stale())
