"""Image search sources behind one interface: Openverse, Wikimedia Commons (MediaWiki API), Flickr, generic JSON.

`source.search(query, limit=N)` -> up to N SearchHit (image URL, page URL, title, author, licence code), in the
engine's rank order, paging as each API documents. Every request goes through the shared SSRF-safe client
(labeling.services.safe_http: public addresses only, no redirects, no proxies, timeouts) and reads at most
MAX_JSON_BYTES. A 429 or 503 is retried after `Retry-After` (at most COLLECT_MAX_RETRY_WAIT_SECONDS, twice);
any other error, or a body the API documents as an error, raises SearchError with a code — the run records it
on the query and goes on with the others. Base URLs and keys are settings (ANNOTATE_COLLECT_*), so tests point
them at a local server.
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import requests

from annotate.bounded import BoundedError, Limits, read_json
from annotate.conf import options
from annotate.inputs import ascii_int
from labeling.services.collection.licenses import FLICKR, license_normalise
from labeling.services.safe_http import InvalidIPAddress, UnsafeURL, hardened_session, loopback_allowed, url_split

MAX_JSON_BYTES = 8 * 1024 * 1024
ANSWER_LIMITS = Limits(max_bytes=MAX_JSON_BYTES, max_field_chars=MAX_JSON_BYTES)
MAX_PAGES = 20
USER_AGENT = "AnnotateCollect/1.0 (+candidate collection for dataset building)"
_TAGS = re.compile(r"<[^>]+>")


class SearchError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class SearchHit:
    url: str
    page_url: str = ""
    title: str = ""
    author: str = ""
    license: str = ""  # normalised code (licenses.py)
    license_url: str = ""


def _plain(value: object, limit: int = 300) -> str:
    return " ".join(html.unescape(_TAGS.sub(" ", str(value or ""))).split())[:limit]


def get_json(url: str, params: dict | None = None, headers: dict | None = None) -> dict:
    """GET a JSON object through the SSRF-safe client, with the rate-limit retries described above."""
    full = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}" if params else url
    try:
        parts = url_split(full)
    except UnsafeURL as exc:
        raise SearchError(exc.code, exc.message) from exc
    settings = options()
    timeout = settings.FETCH_TIMEOUT_SECONDS
    allow = loopback_allowed(parts.host, parts.port)
    for _attempt in range(3):
        try:
            with hardened_session(allow_loopback=allow, timeout=timeout, user_agent=USER_AGENT) as session:
                response = session.get(full, headers=headers or {}, stream=True, allow_redirects=False)
                with response:
                    if response.status_code in (429, 503):
                        wait = ascii_int(response.headers.get("retry-after", "").strip(), minimum=0)
                        wait = 1 if wait is None else wait
                        if wait > settings.COLLECT_MAX_RETRY_WAIT_SECONDS:
                            raise SearchError("rate_limited", f"{parts.host} asks to wait {wait} s (rate limit).")
                        time.sleep(wait)
                        continue
                    if response.status_code != 200:
                        raise SearchError("http_error", f"{parts.host} answered HTTP {response.status_code}.")
                    body = response.raw.read(MAX_JSON_BYTES + 1, decode_content=True)
        except InvalidIPAddress as exc:
            raise SearchError("blocked_address", f"{parts.host} resolves to a non-public address.") from exc
        except requests.Timeout as exc:
            raise SearchError("timeout", f"No answer from {parts.host} within {timeout:g} s.") from exc
        except requests.RequestException as exc:
            raise SearchError("unreachable", f"Could not reach {parts.host}: {type(exc).__name__}.") from exc
        if len(body) > MAX_JSON_BYTES:
            raise SearchError("too_large", f"{parts.host} sent more than {MAX_JSON_BYTES} bytes.")
        try:  # through the bounded reader: a deep or huge-number answer was a RecursionError/ValueError
            data = read_json(body, ANSWER_LIMITS, what=f"{parts.host}'s answer")
        except BoundedError as exc:
            raise SearchError("invalid_json", f"{parts.host} did not answer JSON.") from exc
        if not isinstance(data, dict):
            raise SearchError("invalid_json", f"{parts.host} answered JSON that is not an object.")
        return data
    raise SearchError("rate_limited", f"{parts.host} kept answering 429/503.")


class SearchSource:
    name = ""

    def search(self, query: str, *, limit: int, language: str = "en") -> list[SearchHit]:
        raise NotImplementedError


class OpenverseSource(SearchSource):
    """GET /v1/images/?q=&page=&page_size= -> {result_count, page_count, page, results: [...]} (api.openverse.org)."""

    name = "openverse"

    def search(self, query: str, *, limit: int, language: str = "en") -> list[SearchHit]:
        settings = options()
        base = settings.COLLECT_OPENVERSE_URL.rstrip("/")
        headers = {"Authorization": f"Bearer {settings.COLLECT_OPENVERSE_TOKEN}"} if (
            settings.COLLECT_OPENVERSE_TOKEN) else {}  # fmt: skip
        size = max(1, min(settings.COLLECT_PAGE_SIZE, 50))
        hits: list[SearchHit] = []
        for page in range(1, MAX_PAGES + 1):
            data = get_json(f"{base}/v1/images/", {"q": query, "page": page, "page_size": size}, headers)
            for r in data.get("results") or []:
                if not isinstance(r, dict) or not r.get("url"):
                    continue
                code = license_normalise(str(r.get("license", "")))
                hits.append(SearchHit(str(r["url"]), str(r.get("foreign_landing_url") or ""), _plain(r.get("title")),
                                      _plain(r.get("creator")), code, str(r.get("license_url") or "")))  # fmt: skip
            page_count = ascii_int(str(data.get("page_count", 0)), minimum=0) or 0
            if len(hits) >= limit or page >= page_count or not data.get("results"):
                break
        return hits[:limit]


class CommonsSource(SearchSource):
    """MediaWiki API: action=query, generator=search in the File namespace, prop=imageinfo with extmetadata;
    pages via the `continue` object (gsroffset); errors as {"error": {"code", "info"}}."""

    name = "commons"

    def search(self, query: str, *, limit: int, language: str = "en") -> list[SearchHit]:
        settings = options()
        api = f"{settings.COLLECT_COMMONS_URL.rstrip('/')}/w/api.php"
        params = {"action": "query", "format": "json", "formatversion": "2", "generator": "search",
                  "gsrsearch": query, "gsrnamespace": "6", "gsrlimit": max(1, min(settings.COLLECT_PAGE_SIZE, 50)),
                  "prop": "imageinfo", "iiprop": "url|extmetadata|mime"}  # fmt: skip
        hits: list[SearchHit] = []
        for _page in range(MAX_PAGES):
            data = get_json(api, params)
            if "error" in data:
                err = data["error"] if isinstance(data["error"], dict) else {}
                raise SearchError("api_error", f"Commons: {err.get('code', '')}: {_plain(err.get('info'))}")
            pages = (data.get("query") or {}).get("pages") or []
            if isinstance(pages, dict):  # formatversion=1
                pages = list(pages.values())
            for p in sorted((p for p in pages if isinstance(p, dict)), key=lambda p: p.get("index", 0)):
                info = (p.get("imageinfo") or [{}])[0]
                if not info.get("url") or not str(info.get("mime", "image/")).startswith("image/"):
                    continue
                meta = info.get("extmetadata") or {}

                def field(name: str, meta: dict = meta) -> str:
                    return _plain((meta.get(name) or {}).get("value"))

                code = license_normalise(field("License") or field("LicenseShortName"))
                hits.append(SearchHit(str(info["url"]), str(info.get("descriptionurl") or ""),
                                      _plain(p.get("title")), field("Artist"), code, field("LicenseUrl")))  # fmt: skip
            cont = data.get("continue")
            if len(hits) >= limit or not isinstance(cont, dict) or not pages:
                break
            params = {**params, **{k: str(v) for k, v in cont.items()}}
        return hits[:limit]


class FlickrSource(SearchSource):
    """REST flickr.photos.search (format=json, nojsoncallback=1) -> {"photos": {page, pages, photo: [...]},
    "stat": "ok"} or {"stat": "fail", "code", "message"}; extras give licence, owner name and sized URLs."""

    name = "flickr"

    def search(self, query: str, *, limit: int, language: str = "en") -> list[SearchHit]:
        settings = options()
        if not settings.COLLECT_FLICKR_KEY:
            raise SearchError("not_configured", "Flickr needs an API key (ANNOTATE_COLLECT_FLICKR_KEY).")
        api = f"{settings.COLLECT_FLICKR_URL.rstrip('/')}/services/rest/"
        hits: list[SearchHit] = []
        for page in range(1, MAX_PAGES + 1):
            data = get_json(api, {"method": "flickr.photos.search", "api_key": settings.COLLECT_FLICKR_KEY,
                                  "text": query, "license": "4,5,7,8,9,10", "content_type": "1", "media": "photos",
                                  "extras": "license,owner_name,url_c,url_z,url_o", "sort": "relevance",
                                  "per_page": max(1, min(settings.COLLECT_PAGE_SIZE, 500)), "page": page,
                                  "format": "json", "nojsoncallback": "1"})  # fmt: skip
            if data.get("stat") != "ok":
                raise SearchError("api_error", f"Flickr: {data.get('code', '')}: {_plain(data.get('message'))}")
            photos = data.get("photos") or {}
            for ph in photos.get("photo") or []:
                url = ph.get("url_c") or ph.get("url_z") or ph.get("url_o") if isinstance(ph, dict) else None
                if not url:
                    continue
                page_url = f"https://www.flickr.com/photos/{ph.get('owner', '')}/{ph.get('id', '')}"
                hits.append(SearchHit(str(url), page_url, _plain(ph.get("title")), _plain(ph.get("ownername")),
                                      FLICKR.get(str(ph.get("license", "")), "")))  # fmt: skip
            pages = ascii_int(str(photos.get("pages", 0)), minimum=0) or 0
            if len(hits) >= limit or page >= pages or not photos.get("photo"):
                break
        return hits[:limit]


class JsonSource(SearchSource):
    """Any JSON endpoint: COLLECT_JSON_URL with {query}, {page}, {limit} placeholders, answering
    {"results": [{"url", "page_url", "title", "author", "license"}], "next": <another URL or null>}."""

    name = "json"

    def search(self, query: str, *, limit: int, language: str = "en") -> list[SearchHit]:
        template = options().COLLECT_JSON_URL
        if not template:
            raise SearchError("not_configured", "The JSON source needs ANNOTATE_COLLECT_JSON_URL.")
        from urllib.parse import quote

        url: str | None = template.format(query=quote(query), page=1, limit=limit, language=quote(language))
        first_host = urlsplit(url).netloc
        hits: list[SearchHit] = []
        for _page in range(MAX_PAGES):
            data = get_json(url)
            for r in data.get("results") or []:
                if isinstance(r, dict) and r.get("url"):
                    hits.append(
                        SearchHit(
                            str(r["url"]),
                            str(r.get("page_url") or ""),
                            _plain(r.get("title")),
                            _plain(r.get("author")),
                            license_normalise(str(r.get("license", ""))),
                        )
                    )
            url = data.get("next") if isinstance(data.get("next"), str) else None
            if len(hits) >= limit or not url or urlsplit(url).netloc != first_host:
                break
        return hits[:limit]


SOURCES: dict[str, type[SearchSource]] = {
    cls.name: cls for cls in (OpenverseSource, CommonsSource, FlickrSource, JsonSource)
}


def source_get(name: str) -> SearchSource:
    if name not in SOURCES:
        raise SearchError("unknown_source", f"Unknown source {name!r}; use {', '.join(SOURCES)}.")
    return SOURCES[name]()
