"""A local image-search server on 127.0.0.1 answering the documented response shapes of Openverse
(/v1/images/), the MediaWiki API of Wikimedia Commons (/w/api.php, generator=search + imageinfo, `continue`),
Flickr's REST API (flickr.photos.search, format=json&nojsoncallback=1) and a generic JSON source, and serving
real JPEG photos (made with Pillow).

The world: `SearchWorld.results[(source, query)]` is the ranked list of photo names a query finds; a photo
`<cat>-<i>` shows its category when `relevant(name)` says so. Openverse and Commons serve the *same bytes* for a
photo under different URLs (a content duplicate across sources). Openverse answers a query's first request with
429 + Retry-After: 0 once (the client must retry), sends X-RateLimit headers, and pages by `page_size`; Commons
pages with `continue.gsroffset`; a query in `failing` gets an HTTP 500 (Openverse) or an API error object
(Commons, Flickr).
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlsplit

from tests.helpers.images import jpeg_bytes


@dataclass
class SearchWorld:
    results: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    licenses: dict[str, str] = field(default_factory=dict)  # photo -> openverse licence code (default by)
    relevant_names: set[str] = field(default_factory=set)
    failing: set[str] = field(default_factory=set)
    requests: Counter = field(default_factory=Counter)
    rate_limited_once: set[str] = field(default_factory=set)
    delay: float = 0.0  # seconds each search request takes (a slow engine, to kill a worker mid-run)

    def relevant(self, name: str) -> bool:
        return name in self.relevant_names


def photo_bytes(name: str) -> bytes:
    seed = sum((i + 1) * ord(ch) for i, ch in enumerate(name))
    return jpeg_bytes(72, 56, seed=seed)


class _Handler(http.server.BaseHTTPRequestHandler):
    world: SearchWorld

    def log_message(self, *args):
        pass

    def _json(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        parts = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        base = f"http://127.0.0.1:{self.server.server_port}"
        w = self.world
        if path.startswith("/img/") or path.startswith("/commons-img/") or path.startswith("/flickr-img/"):
            name = path.rsplit("/", 1)[1].removesuffix(".jpg")
            data = photo_bytes(name)
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if path in ("/v1/images/", "/w/api.php") and w.delay:
            time.sleep(w.delay)
        if path == "/v1/images/":
            query = q.get("q", "")
            w.requests["openverse", query] += 1
            if query not in w.rate_limited_once:
                w.rate_limited_once.add(query)
                self._json(429, {"detail": "Request was throttled."}, {"Retry-After": "0"})
                return
            if query in w.failing:
                self._json(500, {"detail": "internal error"})
                return
            names = w.results.get(("openverse", query), [])
            size, page = int(q.get("page_size", "20")), int(q.get("page", "1"))
            chunk = names[(page - 1) * size : page * size]
            results = [{"id": f"ov-{n}", "title": f"Photo {n}", "url": f"{base}/img/{quote(n)}.jpg",
                        "foreign_landing_url": f"https://example.org/photo/{n}", "creator": f"Author of {n}",
                        "license": w.licenses.get(n, "by"), "license_version": "4.0",
                        "license_url": "https://creativecommons.org/licenses/by/4.0/", "provider": "flickr",
                        "source": "flickr", "width": 72, "height": 56}
                       for n in chunk]  # fmt: skip
            pages = max(1, -(-len(names) // size))
            self._json(
                200,
                {"result_count": len(names), "page_count": pages, "page_size": size, "page": page, "results": results},
                {"X-RateLimit-Limit-anon_burst": "20/min", "X-RateLimit-Available-anon_burst": "19"},
            )
            return
        if path == "/w/api.php":
            query = q.get("gsrsearch", "")
            w.requests["commons", query] += 1
            if query in w.failing:
                self._json(200, {"error": {"code": "internal_api_error_DBQueryError", "info": "Database error"}})
                return
            names = w.results.get(("commons", query), [])
            limit, offset = int(q.get("gsrlimit", "10")), int(q.get("gsroffset", "0"))
            chunk = names[offset : offset + limit]
            pages = [{"pageid": 1000 + offset + i, "ns": 6, "title": f"File:{n}.jpg", "index": offset + i + 1,
                      "imageinfo": [{"url": f"{base}/commons-img/{quote(n)}.jpg", "mime": "image/jpeg",
                                     "descriptionurl": f"https://commons.wikimedia.org/wiki/File:{n}.jpg",
                                     "extmetadata": {"LicenseShortName": {"value": "CC BY-SA 4.0"},
                                                     "License": {"value": "cc-by-sa-4.0"},
                                                     "Artist": {"value": f'<a href="/wiki/User:X">Commons {n}</a>'},
                                                     "LicenseUrl": {"value": "https://creativecommons.org/"
                                                                             "licenses/by-sa/4.0"}}}]}
                     for i, n in enumerate(chunk)]  # fmt: skip
            body: dict = {"batchcomplete": True, "query": {"pages": pages}}
            if offset + limit < len(names):
                body["continue"] = {"gsroffset": offset + limit, "continue": "gsroffset||"}
            self._json(200, body)
            return
        if path == "/services/rest/":
            query = q.get("text", "")
            w.requests["flickr", query] += 1
            if q.get("api_key") != "test-key":
                self._json(200, {"stat": "fail", "code": 100, "message": "Invalid API Key (Key has invalid format)"})
                return
            names = w.results.get(("flickr", query), [])
            per, page = int(q.get("per_page", "100")), int(q.get("page", "1"))
            chunk = names[(page - 1) * per : page * per]
            photos = [{"id": str(5000 + i), "owner": "12345@N00", "secret": "abc", "server": "1", "farm": 1,
                       "title": f"flickr {n}", "ispublic": 1, "license": "4", "ownername": f"Flickr {n}",
                       "url_c": f"{base}/flickr-img/{quote(n)}.jpg", "height_c": 56, "width_c": 72}
                      for i, n in enumerate(chunk)]  # fmt: skip
            self._json(
                200,
                {
                    "photos": {
                        "page": page,
                        "pages": max(1, -(-len(names) // per)),
                        "perpage": per,
                        "total": len(names),
                        "photo": photos,
                    },
                    "stat": "ok",
                },
            )
            return
        self._json(404, {"detail": "not found"})


@dataclass
class SearchServer:
    httpd: http.server.ThreadingHTTPServer
    world: SearchWorld

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}"

    def settings(self, **extra) -> dict:
        """The ANNOTATE overrides that point every source at this server."""
        return {"FETCH_ALLOW_LOOPBACK_FOR_TESTS": True, "COLLECT_OPENVERSE_URL": self.url,
                "COLLECT_COMMONS_URL": self.url, "COLLECT_FLICKR_URL": self.url, "COLLECT_FLICKR_KEY": "test-key",
                "COLLECT_PAGE_SIZE": 3, "COLLECT_MAX_RETRY_WAIT_SECONDS": 2, **extra}  # fmt: skip

    def stop(self) -> None:
        self.httpd.shutdown()


def search_server_start(world: SearchWorld | None = None) -> SearchServer:
    world = world or SearchWorld()
    handler = type("Handler", (_Handler,), {"world": world})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return SearchServer(httpd, world)
