"""What the management commands share: the project named on the command line, the input file's bytes."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from labeling.models import Project


def project_from_slug(slug: object) -> Project:
    """The project with this slug, or a CommandError naming it."""
    project = Project.objects.filter(slug=str(slug)).first()
    if project is None:
        raise CommandError(f"No project with slug {str(slug)!r}.")
    return project


def read_input(path: Path) -> bytes:
    """The file's bytes, or a CommandError saying why it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}") from exc
