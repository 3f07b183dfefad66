"""Backup and restore: a database dump plus a manifest of every stored file the database names.

A backup is a folder:
  database.dump          PostgreSQL: `pg_dump --format=custom` (restored with `pg_restore`); SQLite: the
                         database file, copied with SQLite's online backup API (consistent while in use)
  media-manifest.json    {"vendor", "created_at", "files": [{"name", "size", "sha256"}, …]}: every file the rows
                         point at (image originals and thumbnails, finished exports, training checkpoints),
                         read through the configured storage (local folder or S3)

Media files are not copied: the storage keeps them (S3 versioning / bucket replication, or a copy of MEDIA_ROOT
taken after the dump). What the manifest adds is the check: after a restore, `verify_manifest` reads every
file back from storage and reports each one missing or changed, so a restore that would serve broken images
or exports fails loudly instead. Runbook: annotate/backup.md. Test: tests/test_backup_restore.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

DUMP = "database.dump"
MANIFEST = "media-manifest.json"
_CHUNK = 1024 * 1024


class BackupError(Exception):
    pass


@dataclass
class ManifestCheck:
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.changed


def stored_names() -> Iterator[str]:
    """Every storage name a row of ours points at, each once, in a stable order."""
    from labeling.models import DatasetExport, Image
    from training.models import TrainingRun

    names: set[str] = set()
    for file, thumb in Image.objects.values_list("file", "thumbnail").iterator(chunk_size=5000):
        names.update(n for n in (file, thumb) if n)
    names.update(n for n in DatasetExport.objects.exclude(file="").values_list("file", flat=True) if n)
    names.update(n for n in TrainingRun.objects.exclude(checkpoint="").values_list("checkpoint", flat=True) if n)
    yield from sorted(names)


def _digest(name: str) -> tuple[int, str]:
    sha, size = hashlib.sha256(), 0
    with default_storage.open(name, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


def _db() -> dict:
    return connection.settings_dict


def _pg_args() -> tuple[list[str], dict[str, str]]:
    db = _db()
    args = ["-h", db.get("HOST") or "127.0.0.1", "-p", str(db.get("PORT") or 5432), "-U", db.get("USER") or "postgres"]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return args, env


def backup_create(*, out: Path) -> dict:
    """Dump the database and write the media manifest into `out` (created; must be empty). Returns a summary."""
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise BackupError(f"{out} is not empty")
    dump = out / DUMP
    if connection.vendor == "postgresql":
        args, env = _pg_args()
        cmd = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", *args, "-f", str(dump), _db()["NAME"]]
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if result.returncode:
            raise BackupError(f"pg_dump failed: {result.stderr.strip()[-2000:]}")
    elif connection.vendor == "sqlite":
        connection.ensure_connection()
        with sqlite3.connect(dump) as target:
            connection.connection.backup(target)
        target.close()
    else:
        raise BackupError(f"no backup for the {connection.vendor} database")
    files = []
    for name in stored_names():
        if not default_storage.exists(name):
            raise BackupError(f"{name} is named by the database but missing from storage")
        size, sha = _digest(name)
        files.append({"name": name, "size": size, "sha256": sha})
    manifest = {"vendor": connection.vendor, "created_at": timezone.now().isoformat(), "files": files}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return {"dump": str(dump), "dump_bytes": dump.stat().st_size, "files": len(files),
            "media_bytes": sum(f["size"] for f in files)}  # fmt: skip


def backup_restore(*, source: Path) -> ManifestCheck:
    """Replace the configured database's contents with the dump in `source`, then check its manifest against
    storage. The database must exist (PostgreSQL: its objects are dropped and re-created; SQLite: the file is
    replaced)."""
    dump, manifest = source / DUMP, source / MANIFEST
    if not dump.is_file() or not manifest.is_file():
        raise BackupError(f"{source} holds no {DUMP} and {MANIFEST}")
    vendor = json.loads(manifest.read_text())["vendor"]
    if vendor != connection.vendor:
        raise BackupError(f"the backup is of a {vendor} database; this one is {connection.vendor}")
    if connection.vendor == "postgresql":
        connection.close()
        args, env = _pg_args()
        cmd = ["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--exit-on-error",
               *args, "-d", _db()["NAME"], str(dump)]  # fmt: skip
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if result.returncode:
            raise BackupError(f"pg_restore failed: {result.stderr.strip()[-2000:]}")
    else:
        connection.close()
        target = Path(_db()["NAME"])
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        tmp = target.with_name(target.name + ".restoring")
        shutil.copyfile(dump, tmp)
        os.replace(tmp, target)
    return verify_manifest(manifest_path=manifest)


def verify_manifest(*, manifest_path: Path) -> ManifestCheck:
    """Read every file of the manifest back from storage: each one missing or with other bytes is listed."""
    check = ManifestCheck()
    for entry in json.loads(manifest_path.read_text())["files"]:
        check.checked += 1
        name = entry["name"]
        if not default_storage.exists(name):
            check.missing.append(name)
            continue
        size, sha = _digest(name)
        if size != entry["size"] or sha != entry["sha256"]:
            check.changed.append(name)
    return check
