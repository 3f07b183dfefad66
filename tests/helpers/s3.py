"""A real S3 API on 127.0.0.1: moto's server in a subprocess (a dev requirement), and the settings that point
Django's default storage at it -- in this process (`use_s3`) or in a subprocess (`S3Server.env`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REGION = "us-east-1"
KEY_ID, SECRET = "annotate-test", "annotate-test-secret"  # moto accepts any credentials


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class S3Server:
    endpoint: str
    proc: subprocess.Popen
    log_path: Path

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=KEY_ID,
                            aws_secret_access_key=SECRET)  # fmt: skip

    def create_bucket(self, prefix: str = "annotate") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def get(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def env(self, bucket: str) -> dict[str, str]:
        """What a worker or web subprocess needs to use the bucket (annotate/settings/base.py reads these)."""
        return {"AWS_STORAGE_BUCKET_NAME": bucket, "AWS_S3_ENDPOINT_URL": self.endpoint,
                "AWS_S3_REGION_NAME": REGION, "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET}  # fmt: skip

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def moto_available() -> bool:
    try:
        import moto.server  # noqa: F401
    except ImportError:
        return False
    return True


def start_moto(log_dir: Path, timeout: float = 30.0) -> S3Server:
    """`python -m moto.server` on a free port; returns once it answers."""
    import requests

    port = free_port()
    log_path = log_dir / f"moto-{port}.log"
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log_path.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "false"})  # fmt: skip
    server = S3Server(endpoint=f"http://127.0.0.1:{port}", proc=proc, log_path=log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited: {log_path.read_text(errors='replace')[-2000:]}")
        try:
            requests.get(f"{server.endpoint}/moto-api/", timeout=1)
            return server
        except requests.ConnectionError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"moto server not answering after {timeout}s")


def use_s3(settings, server: S3Server, bucket: str) -> None:
    """Point this process's default storage at `bucket` (pytest-django's `settings` fixture undoes it)."""
    settings.AWS_STORAGE_BUCKET_NAME = bucket
    settings.AWS_S3_ENDPOINT_URL = server.endpoint
    settings.AWS_S3_REGION_NAME = REGION
    settings.AWS_S3_ACCESS_KEY_ID, settings.AWS_S3_SECRET_ACCESS_KEY = KEY_ID, SECRET
    settings.AWS_S3_SIGNATURE_VERSION, settings.AWS_S3_ADDRESSING_STYLE = "s3v4", "path"
    settings.AWS_DEFAULT_ACL, settings.AWS_QUERYSTRING_AUTH, settings.AWS_S3_FILE_OVERWRITE = None, True, False
    # Last: changing STORAGES drops the cached default storage, which is rebuilt from the settings above.
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage"}}
