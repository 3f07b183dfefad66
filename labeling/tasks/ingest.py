"""Celery tasks: ingest."""
