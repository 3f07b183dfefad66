"""How a stored file reaches the client once Django has authorised the request (media, exports, checkpoints).

The view decides *whether* (its scoped query); this module decides *how*, by `ANNOTATE_MEDIA_SERVE`:

- `redirect` (the `auto` choice on S3): a 302 to a presigned GET URL that expires after
  `ANNOTATE_MEDIA_URL_EXPIRY_SECONDS`; S3 sends the bytes, with our Content-Type / Content-Disposition /
  Cache-Control (the `response-*` overrides are part of the signature, so a client cannot change them).
- `accel`: an empty response with `X-Accel-Redirect: <ANNOTATE_MEDIA_ACCEL_PREFIX><name>`; nginx serves the
  file from an `internal;` location (README, "Serving media") with the headers set here.
- `sendfile`: the same with `X-Sendfile: <absolute path>` (Apache mod_xsendfile, lighttpd).
- `stream` (the `auto` choice on local disk): Django streams the file itself -- ties a web worker thread to
  the client for the whole transfer, so use it only without a front server.

Only the answer that carries bytes gets the long cache: a redirect is cached for less than its URL lives.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import quote

from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from storages.utils import clean_name

from annotate.conf import options

MODES = ("auto", "stream", "redirect", "accel", "sendfile")
IMMUTABLE = "private, max-age=31536000, immutable"  # content-addressed: the bytes behind a name never change
NO_STORE = "private, no-store"
_REDIRECT_MARGIN_S = 60  # a cached redirect must never hand out a URL about to expire


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the client should get: the type, the download name, inline or attachment, cacheable or not."""

    content_type: str
    filename: str
    attachment: bool = False
    immutable: bool = False
    headers: tuple[tuple[str, str], ...] = ()  # extra headers for the Django response (CSP, CORP ...)

    @property
    def disposition(self) -> str:
        return f'{"attachment" if self.attachment else "inline"}; filename="{self.filename}"'


def is_s3(storage=None) -> bool:
    return hasattr(storage or default_storage, "bucket_name")


def serve_mode() -> str:
    """The configured mode, `auto` resolved: presigned redirects on S3, streaming on local disk."""
    mode = options().MEDIA_SERVE
    if mode not in MODES:
        raise ImproperlyConfigured(f"ANNOTATE_MEDIA_SERVE={mode!r}: use one of {', '.join(MODES)}")
    s3 = is_s3()
    if mode == "auto":
        return "redirect" if s3 else "stream"
    if mode == "redirect" and not s3:
        raise ImproperlyConfigured("ANNOTATE_MEDIA_SERVE=redirect needs S3 storage (AWS_STORAGE_BUCKET_NAME)")
    if mode in ("accel", "sendfile") and s3:
        raise ImproperlyConfigured(f"ANNOTATE_MEDIA_SERVE={mode} serves local files; with S3 use redirect")
    return mode


def stored_file_response(name: str, delivery: Delivery) -> HttpResponse:
    """The response for stored file `name`, already authorised by the caller."""
    mode = serve_mode()
    if mode == "redirect":
        return _redirect(name, delivery)
    if mode == "stream":
        try:
            response: HttpResponse = FileResponse(default_storage.open(name, "rb"), content_type=delivery.content_type)
        except OSError as exc:
            raise Http404("The file is missing.") from exc
    else:
        response = HttpResponse(content_type=delivery.content_type)
        if mode == "accel":
            response["X-Accel-Redirect"] = options().MEDIA_ACCEL_PREFIX.rstrip("/") + "/" + quote(name)
        else:
            response["X-Sendfile"] = default_storage.path(name)
    response["Content-Disposition"] = delivery.disposition
    response["Cache-Control"] = IMMUTABLE if delivery.immutable else NO_STORE
    response["X-Content-Type-Options"] = "nosniff"
    for key, value in delivery.headers:
        response[key] = value
    return response


def presigned_url(name: str, delivery: Delivery, *, expire: int | None = None) -> str:
    """A GET URL for `name` that S3 honours for `expire` seconds, with our response headers signed in."""
    storage = default_storage
    params = {
        "Bucket": storage.bucket_name,
        "Key": storage._normalize_name(clean_name(name)),  # the key django-storages wrote (its `location` prefix)
        "ResponseContentType": delivery.content_type,
        "ResponseContentDisposition": delivery.disposition,
        "ResponseCacheControl": IMMUTABLE if delivery.immutable else NO_STORE,
    }
    client = _signer(storage.endpoint_url, options().MEDIA_PUBLIC_ENDPOINT_URL, storage.access_key,
                     storage.region_name, storage.signature_version, storage.addressing_style)  # fmt: skip
    return client.generate_presigned_url(
        "get_object", Params=params, ExpiresIn=expire or options().MEDIA_URL_EXPIRY_SECONDS
    )


def _redirect(name: str, delivery: Delivery) -> HttpResponse:
    expire = options().MEDIA_URL_EXPIRY_SECONDS
    response = HttpResponseRedirect(presigned_url(name, delivery, expire=expire))
    # The browser reuses the redirect (and with it the URL its cached bytes are keyed by) while the URL is valid.
    max_age = max(expire - _REDIRECT_MARGIN_S, 0) if delivery.immutable else 0
    response["Cache-Control"] = f"private, max-age={max_age}" if max_age else NO_STORE
    response["Referrer-Policy"] = "no-referrer"
    return response


@functools.lru_cache(maxsize=8)
def _signer(endpoint_url: str | None, public_endpoint_url: str, *_config_key: object):
    """One boto3 client per process for signing (thread-safe; signing makes no request). django-storages builds a
    boto3 *resource* per thread, which costs a first request of every web thread a large fraction of a second.

    It is addressed by the endpoint clients reach (`ANNOTATE_MEDIA_PUBLIC_ENDPOINT_URL`, e.g. MinIO as
    `http://localhost:9000` while the web container reaches it as `http://minio:9000`): SigV4 signs the host.
    The other arguments only key the cache (tests switch buckets and credentials)."""
    storage = default_storage
    return storage._create_session().client(
        "s3", region_name=storage.region_name, use_ssl=storage.use_ssl, verify=storage.verify,
        endpoint_url=public_endpoint_url or endpoint_url, config=storage.client_config,
    )  # fmt: skip
