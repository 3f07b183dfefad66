"""Annotate's own settings: every one declared once here, typed, with its default, environment variable and help.

`annotate/settings/base.py` builds `settings.ANNOTATE` from `AnnotateOptions.from_env()`; code reads the typed
object with `options().NAME`, never `os.environ` or `getattr(settings, ...)`. Tests may still replace
`settings.ANNOTATE` with a dict of overrides (pytest-django's `settings` fixture): `options()` validates it and
fills in the defaults. The README's configuration table is generated from `options_table()` and a test keeps
the two equal (tests/test_conf.py).

Django's own settings and those of the libraries (DATABASE_URL, CELERY_BROKER_URL, AWS_*, the log-in limits)
stay in `annotate/settings/base.py`, each read once from the environment there.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

ENV_PREFIX = "ANNOTATE_"
MiB = 1024 * 1024


def _opt(default: Any, help: str, *, group: str) -> Any:
    return field(default=default, metadata={"help": help, "group": group})


@dataclass(frozen=True)
class AnnotateOptions:
    # --- Labeling ---------------------------------------------------------------------------------------
    LEASE_TTL_SECONDS: int = _opt(
        600,
        "How long a volunteer holds a served item before it goes back to the pool.",
        group="labeling",
    )
    SKIP_COOLDOWN_SECONDS: int = _opt(
        6 * 3600,
        "An item a volunteer skipped is not served to them again for this long.",
        group="labeling",
    )
    QUALITY_REAGGREGATE_EVERY: int = _opt(
        200,
        "Full re-aggregation of a project after this many new answers (the online update covers the rest).",
        group="labeling",
    )
    QUALITY_REAGGREGATE_SECONDS: int = _opt(
        60,
        "...or this many seconds after the first answer since the project's last one, whichever comes first.",
        group="labeling",
    )
    QUALITY_STATS_SAMPLE_ITEMS: int = _opt(
        20_000,
        "The quality page's agreement statistics and forecast read at most about this many items: a larger "
        "project's come from a fixed sample of them, scaled to the project (the page says so).",
        group="labeling",
    )
    # --- Ingest -----------------------------------------------------------------------------------------
    MAX_IMAGE_BYTES: int = _opt(
        50 * MiB,
        "Largest image file accepted (upload, archive member or URL).",
        group="ingest",
    )
    MAX_IMAGE_PIXELS: int = _opt(
        100_000_000,
        "Largest image accepted, in pixels (decompression-bomb guard).",
        group="ingest",
    )
    MAX_DECODE_BYTES: int = _opt(
        512 * MiB,
        "Largest decoded size of one image (width x height x bytes per pixel).",
        group="ingest",
    )
    DECODE_BUDGET_BYTES: int = _opt(
        512 * MiB,
        "Decoded bytes one ingest task holds at a time, all images and decoding processes together.",
        group="ingest",
    )
    MIN_IMAGE_SIDE: int = _opt(8, "Smaller images are refused.", group="ingest")
    MAX_IMAGE_SIDE: int = _opt(20_000, "Larger images are refused.", group="ingest")
    THUMBNAIL_SIZE: int = _opt(256, "Longest side of the thumbnails volunteers see.", group="ingest")
    NEAR_DUP_RADIUS: int = _opt(8, "Hamming radius of the perceptual-hash near-duplicate check.", group="ingest")
    NEAR_DUP_MAX_COLOUR_DIFF: float = _opt(
        20.0,
        "A pHash near-duplicate must also differ by at most this mean absolute value (0-255) on 16x16 RGB thumbnails.",
        group="ingest",
    )
    INGEST_THREADS: int = _opt(
        0,
        "Threads reading, fetching and storing images in one ingest task (0 = twice the decoding processes).",
        group="ingest",
    )
    INGEST_PROCESSES: int = _opt(
        0,
        "Processes decoding, hashing and thumbnailing images, one pool per worker process (0 = the number of "
        "cores; 1 = decode in the task's own threads).",
        group="ingest",
    )
    INGEST_IN_THREAD_BELOW_BYTES: int = _opt(
        0,
        "Smaller files are decoded by the ingest task's own threads, outside the crash-isolating pool (faster for "
        "tiny files, but a decoder crash there kills the worker; 0 = every file in the pool).",
        group="ingest",
    )
    INGEST_CHUNK_SIZE: int = _opt(64, "Images per database transaction during ingest.", group="ingest")
    INGEST_CHUNK_MAX_BYTES: int = _opt(
        256 * MiB,
        "Most input bytes in one ingest chunk (as listed: files and archive members); two chunks are in flight.",
        group="ingest",
    )
    INGEST_MAX_ATTEMPTS: int = _opt(
        3,
        "Runs that may take an ingest entry up without deciding it (a worker killed on its chunk, a storage "
        "error) before it is rejected.",
        group="ingest",
    )
    ARCHIVE_MAX_ENTRIES: int = _opt(
        100_000, "Most members read from one uploaded archive, or URLs from one URL list.", group="ingest"
    )
    ARCHIVE_MAX_TOTAL_BYTES: int = _opt(
        20 * 1024 * MiB,
        "Most uncompressed bytes read from one archive.",
        group="ingest",
    )
    ARCHIVE_MAX_RATIO: int = _opt(
        200,
        "Largest compression ratio of an archive member (zip-bomb guard).",
        group="ingest",
    )
    FETCH_TIMEOUT_SECONDS: int = _opt(10, "Connect and read timeout of a URL fetch.", group="ingest")
    FETCH_MAX_BYTES: int = _opt(50 * MiB, "Largest body read from one URL.", group="ingest")
    FETCH_MAX_REDIRECTS: int = _opt(
        5,
        "Redirects followed per URL (each hop is checked against private addresses).",
        group="ingest",
    )
    FETCH_PER_HOST: int = _opt(2, "Concurrent fetches per host.", group="ingest")
    FETCH_THREADS: int = _opt(8, "Concurrent URL fetches per ingest task.", group="ingest")
    FETCH_ALLOW_LOOPBACK_FOR_TESTS: bool = _opt(
        False,
        "Lets URL fetches reach 127.0.0.1. Tests only: never set it in production.",
        group="ingest",
    )
    FETCH_TEST_FIRST_HOP_ALLOWLIST: tuple[str, ...] = _opt(
        (),
        "host:port pairs whose first hop may be a loopback address (tests of redirects to private addresses).",
        group="ingest",
    )
    INGEST_SERVER_ROOT: str = _opt(
        "",
        "Admins may ingest folders under this server path from the ingest page (empty: the page offers no "
        "server folders; `manage.py ingest` reads any path).",
        group="ingest",
    )
    # --- Webhooks ---------------------------------------------------------------------------------------
    WEBHOOK_MAX_ATTEMPTS: int = _opt(5, "Attempts of one webhook delivery before it ends failed.", group="webhooks")
    WEBHOOK_RETRY_BASE_SECONDS: float = _opt(
        30.0,
        "Wait before a webhook's 2nd attempt; doubled before each further one.",
        group="webhooks",
    )
    WEBHOOK_TIMEOUT_SECONDS: float = _opt(10.0, "Connect and read timeout of one webhook POST.", group="webhooks")
    WEBHOOK_MAX_ENDPOINTS: int = _opt(20, "Webhook endpoints one project may have.", group="webhooks")
    WEBHOOK_TESTS_PER_MINUTE: int = _opt(5, "Test events one project may send per minute.", group="webhooks")
    # --- Exports ----------------------------------------------------------------------------------------
    EXPORT_SHARD_MB: float = _opt(256.0, "Target size of one webdataset shard.", group="exports")
    EXPORT_MAX_ACTIVE: int = _opt(
        3, "Exports one project may have queued or running at once (identical requests share one).", group="exports"
    )
    # --- Media ------------------------------------------------------------------------------------------
    MEDIA_SERVE: str = _opt(
        "auto",
        "How authorised image, export and checkpoint requests get their bytes: auto (redirect on S3, else "
        "stream), redirect (presigned S3 URL), accel (nginx X-Accel-Redirect), sendfile (X-Sendfile), stream.",
        group="media",
    )
    MEDIA_URL_EXPIRY_SECONDS: int = _opt(300, "Lifetime of a presigned S3 URL (redirect mode).", group="media")
    MEDIA_ACCEL_PREFIX: str = _opt(
        "/protected-media/",
        "accel mode: the nginx `internal` location whose alias is MEDIA_ROOT.",
        group="media",
    )
    MEDIA_PUBLIC_ENDPOINT_URL: str = _opt(
        "",
        "redirect mode: the S3 endpoint browsers reach, when it differs from AWS_S3_ENDPOINT_URL (MinIO in compose).",
        group="media",
    )
    WORKER_IMAGE_CACHE_MB: int = _opt(
        1024,
        "A worker's local cache of images fetched from S3 for predictions, under its VAR_DIR (0 = no cache).",
        group="media",
    )
    # --- Collection (image search) ----------------------------------------------------------------------
    COLLECT_DEFAULT_SOURCES: tuple[str, ...] = _opt(
        ("openverse", "commons"),
        "Search sources `collect` uses when none are named (openverse, commons, flickr, json).",
        group="collect",
    )
    COLLECT_OPENVERSE_URL: str = _opt("https://api.openverse.org", "Openverse API base URL.", group="collect")
    COLLECT_OPENVERSE_TOKEN: str = _opt(
        "", "Openverse OAuth access token (optional: higher rate limits).", group="collect"
    )
    COLLECT_COMMONS_URL: str = _opt(
        "https://commons.wikimedia.org",
        "Wikimedia Commons base URL (its MediaWiki API is /w/api.php).",
        group="collect",
    )
    COLLECT_FLICKR_URL: str = _opt("https://api.flickr.com", "Flickr API base URL.", group="collect")
    COLLECT_FLICKR_KEY: str = _opt("", "Flickr API key (the flickr source is refused without one).", group="collect")
    COLLECT_JSON_URL: str = _opt(
        "",
        "Generic JSON source: a URL with {query}, {page}, {limit} placeholders answering {results: [...], next}.",
        group="collect",
    )
    COLLECT_PAGE_SIZE: int = _opt(50, "Results asked per search request.", group="collect")
    COLLECT_MAX_RETRY_WAIT_SECONDS: int = _opt(
        30,
        "Longest Retry-After a search source may ask for before its query is recorded as rate limited.",
        group="collect",
    )
    # --- Training ---------------------------------------------------------------------------------------
    CHECKPOINT_DIR: str = _opt(
        "",
        "Where a worker keeps run checkpoints and materialised data (default: VAR_DIR/checkpoints).",
        group="training",
    )
    TRAINING_LEASE_SECONDS: float = _opt(
        300.0,
        "A run whose worker sent no heartbeat for this long can be taken over.",
        group="training",
    )
    TRAINING_MAX_ATTEMPTS: int = _opt(
        3,
        "Times a run may be started (a crashed or killed worker's run is taken over); then it ends failed.",
        group="training",
    )
    TRAINING_CANCEL_POLL_SECONDS: float = _opt(
        1.0,
        "At most one database read of a run's cancel flag per this many seconds.",
        group="training",
    )
    # --- Operations -------------------------------------------------------------------------------------
    METRICS_TOKEN: str = _opt(
        "",
        "Bearer token a Prometheus scraper sends to /metrics (staff sessions need none; empty = staff only).",
        group="operations",
    )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **defaults: Any) -> AnnotateOptions:
        """The defaults above (or `defaults`), each replaced by `ANNOTATE_<NAME>` when that is set and non-empty."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + spec.name)
            if raw is None or raw == "":
                if spec.name in defaults:
                    values[spec.name] = defaults[spec.name]
                continue
            values[spec.name] = _parse(spec, raw)
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _parse(spec: dataclasses.Field, raw: str) -> Any:
    kind = type(spec.default)
    try:
        if kind is bool:
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if kind is tuple:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return kind(raw)
    except ValueError as exc:
        raise ValueError(f"{ENV_PREFIX}{spec.name}={raw!r}: expected {kind.__name__}") from exc


_FIELDS = {spec.name: spec for spec in dataclasses.fields(AnnotateOptions)}
_cache: tuple[int, dict | None, AnnotateOptions] | None = None


def options() -> AnnotateOptions:
    """The typed settings, from `settings.ANNOTATE` (a dict: tests replace it with overrides)."""
    global _cache
    from django.conf import settings

    raw = settings.ANNOTATE
    if isinstance(raw, AnnotateOptions):
        return raw
    # Cached on the dict object itself: a test that assigns a new dict gets a fresh, validated object.
    if _cache is not None and _cache[0] == id(raw) and _cache[1] is raw:
        return _cache[2]
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise KeyError(f"settings.ANNOTATE has undeclared keys {unknown}: declare them in annotate/conf.py")
    values = {
        name: (tuple(value) if isinstance(_FIELDS[name].default, tuple) else value) for name, value in raw.items()
    }
    result = AnnotateOptions(**values)
    _cache = (id(raw), raw, result)
    return result


def options_install(opts: AnnotateOptions) -> None:
    """Make `options()` return `opts` in a process that has not set Django up (an ingest decoding process,
    labeling/services/ingestion/decoding.py: it gets its caller's settings with each call)."""
    from django.conf import settings

    if not settings.configured:
        settings.configure(ANNOTATE=opts)
    settings.ANNOTATE = opts


def options_table() -> str:
    """The README's table of ANNOTATE_* variables (tests/test_conf.py keeps the README equal to it)."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for spec in dataclasses.fields(AnnotateOptions):
        default = spec.default
        shown = ",".join(default) if isinstance(default, tuple) else default
        if spec.name == "CHECKPOINT_DIR":
            shown = "VAR_DIR/checkpoints"
        rows.append(f"| `{ENV_PREFIX}{spec.name}` | `{shown}` | {spec.metadata['help']} |")
    return "\n".join(rows)
