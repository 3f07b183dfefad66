"""Small helpers to read typed settings from the environment, and the on-disk secret key."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [part.strip() for part in value.split(",") if part.strip()]


def secret_key_from_env_or_file(var_dir: Path) -> str:
    """Use SECRET_KEY when given; otherwise generate one once and keep it under var/.

    Never a hard-coded key (a peer shipped one: CVE-2023-43791).
    """
    key = os.environ.get("SECRET_KEY") or os.environ.get("DJANGO_SECRET_KEY")
    if key:
        return key
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(64)
    # O_EXCL: two processes starting together must agree on one key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def media_origin(*, bucket: str, endpoint: str, region: str) -> str:
    """` <origin>` of the bucket browsers fetch presigned media from ('' without S3), for the CSP's img-src."""
    if not bucket:
        return ""
    if endpoint:
        parts = urlsplit(endpoint)
        return f" {parts.scheme}://{parts.netloc}"
    return f" https://{bucket}.s3.amazonaws.com" + (f" https://{bucket}.s3.{region}.amazonaws.com" if region else "")
