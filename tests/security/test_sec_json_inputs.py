"""Issue 25, one bounded reader: the JSON a form field carries (the review page's corrected boxes) and the JSON an
image-search API answers are read through annotate.bounded: json.loads on 50,000 nested brackets raised
RecursionError (a 500 on the review page, an escaped exception in a collection run)."""

from __future__ import annotations

import http.server
import threading

import pytest

from labeling.models import Item

DEEP = "[" * 50_000 + "]" * 50_000


@pytest.mark.parametrize("boxes", [DEEP, "[" + "9" * 5000 + "]", '[{"x": 1e999}]', "[NaN]"])
def test_review_fix_with_hostile_boxes_json_is_refused_with_a_message(world, client_as, boxes):
    item = world.a.objects["item"]
    before = Item.objects.filter(pk=item.pk).values("is_gold", "answer").get()
    response = client_as("researcher").post(f"/projects/proj-a/review/{item.pk}/", {"action": "fix", "boxes": boxes})
    assert response.status_code in (302, 400), response.status_code
    assert Item.objects.filter(pk=item.pk).values("is_gold", "answer").get() == before


class _Deep(http.server.BaseHTTPRequestHandler):
    body = DEEP.encode()

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


@pytest.fixture
def deep_server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Deep)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_a_search_api_answering_deep_json_is_a_search_error(settings, deep_server):
    from labeling.services.collection.sources import SearchError, get_json

    settings.ANNOTATE = {**settings.ANNOTATE, "FETCH_ALLOW_LOOPBACK_FOR_TESTS": True, "FETCH_TIMEOUT_SECONDS": 5}
    with pytest.raises(SearchError) as info:
        get_json(f"http://{deep_server}/search")
    assert info.value.code == "invalid_json"
