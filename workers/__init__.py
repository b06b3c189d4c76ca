"""Celery wiring for the review engine: an app factory and thin tasks that call reviewer.pipeline.

Rule: Celery and nothing else; a task turns its arguments into a call of the pipeline with the
services built at worker start, and nothing under reviewer/ imports this package.

``celery -A workers worker`` (or ``reviewer worker``) finds ``app`` here; it reads its settings
lazily, when Celery first configures it, not at import.
"""

from workers.celery_app import app, create_celery

__all__ = ["app", "create_celery"]
