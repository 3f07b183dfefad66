"""What the management commands share: the project named on the command line, the input file's bytes."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from annotate.bounded import BoundedError, read_file
from labeling.models import Project


def project_from_slug(slug: object) -> Project:
    """The project with this slug, or a CommandError naming it."""
    project = Project.objects.filter(slug=str(slug)).first()
    if project is None:
        raise CommandError(f"No project with slug {str(slug)!r}.")
    return project


def read_input(path: Path, max_bytes: int) -> bytes:
    """The file's bytes (read with a cap, through annotate.bounded), or a CommandError saying why it cannot be
    read or that it is larger than `max_bytes`."""
    try:
        return read_file(path, max_bytes, what=str(path))
    except BoundedError as exc:
        raise CommandError(exc.message) from exc
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}") from exc
