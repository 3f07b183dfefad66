"""Celery tasks: quality."""
