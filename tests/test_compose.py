"""docker-compose.yml kept in step with the scale-out guide (docker is not run here: the file is read)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
APP_SERVICES = ("web", "worker", "gpu-worker", "beat", "flower")
S3_VARS = ("AWS_STORAGE_BUCKET_NAME", "AWS_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
           "ANNOTATE_MEDIA_PUBLIC_ENDPOINT_URL")  # fmt: skip


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_app_service_uses_the_bucket_and_its_own_var_dir():
    services = _compose()["services"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        for var in S3_VARS:
            assert env.get(var), (name, var)
        assert env["AWS_S3_ENDPOINT_URL"] == "http://minio:9000"
        assert "MEDIA_ROOT" not in env and "ANNOTATE_CHECKPOINT_DIR" not in env, name  # nothing on a shared disk
        assert services[name]["depends_on"]["minio-init"] == {"condition": "service_completed_successfully"}
    volumes = [v.split(":")[0] for name in APP_SERVICES for v in services[name].get("volumes", [])]
    assert len(volumes) == len(set(volumes)), f"a volume is shared between app services: {volumes}"


def test_minio_and_the_bucket_creation():
    compose = _compose()
    services = compose["services"]
    assert services["minio"]["image"].startswith("minio/minio")
    assert "9000:9000" in services["minio"]["ports"]
    init = " ".join(services["minio-init"]["entrypoint"])
    bucket = services["web"]["environment"]["AWS_STORAGE_BUCKET_NAME"]
    assert f"mc mb --ignore-existing local/{bucket}" in init
    assert services["minio-init"]["depends_on"]["minio"] == {"condition": "service_healthy"}
    for name in ("minio", "minio-init"):  # credentials from .env, never a default in the file
        assert all(v.startswith("${") for v in services[name]["environment"].values()), name
