"""Annotate: the Django project package (settings, urls, Celery app, cross-cutting helpers)."""

from annotate.celery import app as celery_app

__all__ = ["celery_app"]
