"""Celery tasks of the labeling app, one module per domain (ingest, quality, exports).

Tasks are interfaces: they take ids, load, and call one service.
"""

from labeling.tasks import collection, exports, ingest, quality, webhooks

__all__ = ["collection", "exports", "ingest", "quality", "webhooks"]
