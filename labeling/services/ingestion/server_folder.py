"""Admins ingest a folder that is already on the server, from the ingest page, inside one allow-listed root.

`INGEST_SERVER_ROOT` (empty: off) is the only tree the page can name. The path typed is relative to it;
it is resolved (symbolic links included) and refused unless it stays inside the root, so `..`, absolute
paths and links pointing out are all refused. Inside, FolderSource never follows links (a linked file is a
rejected entry). `manage.py ingest` still reads any path: whoever runs it already has the shell.
"""

from __future__ import annotations

from pathlib import Path

from django.db import transaction

from annotate.conf import options
from annotate.exceptions import ServiceError
from annotate.roles import Role, has_role
from labeling.models import IngestBatch, Project
from labeling.services.ingestion.batch import batch_create, batch_start
from labeling.services.projects import category_upsert


def server_root() -> Path | None:
    root = options().INGEST_SERVER_ROOT
    return Path(root).resolve() if root else None


def server_folders_allowed(user) -> bool:
    return server_root() is not None and has_role(user, Role.ADMIN)


def server_folder_resolve(relative: str) -> Path:
    """The folder under the root that `relative` names, or ServiceError (never a path outside the root)."""
    root = server_root()
    if root is None:
        raise ServiceError("Server folders are not enabled (ANNOTATE_INGEST_SERVER_ROOT).", code="server_folders_off")
    relative = (relative or "").strip()
    if not relative or "\x00" in relative or Path(relative).is_absolute():
        raise ServiceError("Name a folder relative to the server's ingest root.", code="invalid_folder")
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ServiceError("That folder is outside the server's ingest root.", code="invalid_folder")
    if not path.is_dir():
        raise ServiceError("No such folder under the server's ingest root.", code="invalid_folder")
    return path


def batch_start_from_server_folder(*, project: Project, user, folder: str, category: str = "") -> IngestBatch:
    if not server_folders_allowed(user):
        raise ServiceError("Only admins may ingest server folders.", code="forbidden", status_code=403)
    path = server_folder_resolve(folder)
    with transaction.atomic():
        default_category = category_upsert(project=project, name=category) if category else None
        batch = batch_create(project=project, kind=IngestBatch.Kind.FOLDER, source=str(path),
                             default_category=default_category, created_by=user)  # fmt: skip
        batch_start(batch=batch)
    return batch
