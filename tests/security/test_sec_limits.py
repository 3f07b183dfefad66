"""Issue 25: hostile parameters, limits and side channels, one regression test per finding (issue 22 finding 10:
import accounts). Each reproduces what the probe did against today's code."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from annotate.exceptions import ServiceError
from labeling.models import AnnotatorScore, DatasetExport, WebhookDelivery, WebhookEndpoint

CURATION_PARAMS = ("page", "size", "category", "label", "min_votes", "max_votes", "cluster", "predicted")


def _api(world, role: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(world.person(role))
    return client


# --- query parameters: Unicode digits and NUL on the curation API and pages -------------------------------------


def test_curation_numbers_never_500(world, client_as):
    """`isdigit()` then `int()`, written four times: '²' passed the first and crashed the second."""
    api, html = _api(world, "researcher"), client_as("researcher")
    problems = []
    for name in CURATION_PARAMS:
        for value in ("²", "¹²", "٣", "%00", "99999999999999999999999", "-1", "1e3"):
            got = api.get(f"/api/projects/proj-a/items/?{name}={value}")
            if got.status_code not in (200, 400) or (
                got.status_code == 400 and got.json()["code"] not in ("invalid_filter", "invalid_query")
            ):
                problems.append(("api", name, value, got.status_code))
            page = html.get(f"/projects/proj-a/items/?{name}={value}")
            if page.status_code not in (200, 400):
                problems.append(("html", name, value, page.status_code))
    assert not problems


def test_curation_superscript_page_is_a_400_in_the_api_and_a_page_in_html(world, client_as):
    assert _api(world, "researcher").get("/api/projects/proj-a/items/?page=%C2%B2").status_code == 400
    assert client_as("researcher").get("/projects/proj-a/items/?page=%C2%B2").status_code == 200


@pytest.mark.parametrize("value", ["%00", "a%00b", "%01"])
def test_a_control_character_in_the_annotator_filter_is_a_400(world, client_as, value):
    response = _api(world, "researcher").get(f"/api/projects/proj-a/items/?annotator={value}")
    assert response.status_code == 400 and response.json()["code"] == "invalid_filter"
    assert client_as("researcher").get(f"/projects/proj-a/items/?annotator={value}").status_code == 400


def test_curation_bulk_form_with_unicode_ids_and_label_is_not_a_500(world, client_as):
    item = world.a.objects["item"]
    response = client_as("researcher").post(
        "/projects/proj-a/items/bulk/", {"action": "gold", "item": [str(item.pk), "²"], "label": "¹"}
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert not item.is_gold


def test_next_items_parameters_through_the_one_parser(world):
    client = _api(world, "volunteer")
    for query in ("n=%C2%B2", "n=99999999999999999999", "exclude=1,%C2%B2,99999999999999999999999"):
        assert client.get(f"/api/projects/proj-a/next?{query}").status_code in (200, 400), query


def test_the_annotator_status_form_refuses_a_nul_in_the_reason(world, client_as):
    annotator = world.person("volunteer")
    score = AnnotatorScore.objects.filter(project=world.a.project, user=annotator).first()
    if score is None:
        score = AnnotatorScore.objects.create(project=world.a.project, user=annotator)
    before = score.status
    response = client_as("reviewer").post(
        f"/projects/proj-a/annotators/{annotator.pk}/status/", {"status": "blocked", "reason": "spam\x00"}
    )
    assert response.status_code == 302
    score.refresh_from_db()
    assert score.status == before  # refused, as the API refuses it (400)


# --- exports ----------------------------------------------------------------------------------------------------


def test_shard_sizes_that_differ_in_the_third_decimal_are_one_export(world):
    version = world.a.objects["version"]
    client = _api(world, "researcher")
    ids = set()
    for i in range(12):
        response = client.post(f"/api/datasets/{version.pk}/exports/",
                               {"format": "webdataset", "shard_mb": 5 + i / 1000}, format="json")  # fmt: skip
        assert response.status_code == 202, response.content
        ids.add(response.json()["id"])
    assert len(ids) == 1
    assert DatasetExport.objects.filter(version=version, format="webdataset").count() == 1


def test_a_project_has_a_cap_on_concurrent_exports(world, settings):
    settings.ANNOTATE = {**settings.ANNOTATE, "EXPORT_MAX_ACTIVE": 2}
    version = world.a.objects["version"]
    client = _api(world, "researcher")
    codes = [client.post(f"/api/datasets/{version.pk}/exports/", {"format": "webdataset", "shard_mb": mb},
                         format="json").status_code for mb in (1, 2, 3)]  # fmt: skip
    assert codes == [202, 202, 429]
    assert client.post(f"/api/datasets/{version.pk}/exports/", {"format": "webdataset", "shard_mb": 1},
                       format="json").status_code == 202  # fmt: skip  # the same export again: shared, not new


@pytest.mark.django_db(transaction=True)
def test_identical_export_requests_at_once_make_one_export(settings, tmp_path):
    """8 concurrent identical requests made 2 exports (check-then-create); the constraint makes it one."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises them)")
    from labeling.services.exports.runner import dataset_export_request
    from tests.security.world import world_build

    world = world_build()
    version = world.a.objects["version"]
    barrier, ids, errors = threading.Barrier(8), [], []

    def request() -> None:
        try:
            barrier.wait()
            ids.append(dataset_export_request(version=version, fmt="jsonl", enqueue=False).pk)
        except Exception as exc:  # collected
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(ids)) == 1
    assert DatasetExport.objects.filter(version=version, format="jsonl").count() == 1


def test_the_database_refuses_a_second_live_export_with_the_same_options(world):
    export = world.a.objects["export"]
    with pytest.raises(IntegrityError), transaction.atomic():
        DatasetExport.objects.create(version=export.version, format=export.format, options=export.options,
                                     options_key=export.options_key, status="queued")  # fmt: skip


# --- webhooks ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "code"), [
    ("https://exa mple.org/hook", "invalid_url"), ("https://example.org/ho ok", "invalid_url"),
    ("https://example.org/\x00", "invalid_url"), ("https://localhost/hook", "blocked_address"),
    ("https://127.0.0.1/hook", "blocked_address"), ("https://[::7f00:1]/hook", "blocked_address"),
    ("https://[::ffff:10.0.0.1]/", "blocked_address"), ("https://[64:ff9b::a9fe:a9fe]/", "blocked_address"),
    ("https://metadata.google.internal/", "blocked_address"), ("https://user:pw@example.org/", "invalid_url"),
    ("https://exa_mple.org/", "invalid_url"), ("https://example/", "invalid_url"),
    ("javascript:alert(1)", "unsupported_scheme"),
])  # fmt: skip
def test_invalid_webhook_urls_are_refused_at_creation(world, url, code):
    response = _api(world, "researcher").post("/api/projects/proj-a/webhooks/", {"url": url}, format="json")
    assert response.status_code == 400, (url, response.status_code)
    assert response.json()["code"] in (code, "invalid"), response.json()
    assert "http and https" not in response.json()["detail"]  # webhooks take https only: say so
    assert not WebhookEndpoint.objects.filter(project=world.a.project).exists()


def test_webhook_endpoints_are_capped_and_duplicates_refused(world, settings):
    settings.ANNOTATE = {**settings.ANNOTATE, "WEBHOOK_MAX_ENDPOINTS": 3}
    client = _api(world, "researcher")
    post = lambda url: client.post("/api/projects/proj-a/webhooks/", {"url": url}, format="json")  # noqa: E731
    assert post("https://hooks.example.org/a").status_code == 201
    duplicate = post("https://HOOKS.example.org:443/a")
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "duplicate_endpoint"
    assert [post(f"https://hooks.example.org/{n}").status_code for n in "bcd"] == [201, 201, 409]
    assert WebhookEndpoint.objects.filter(project=world.a.project).count() == 3


def test_webhook_test_sends_are_throttled(world, settings, django_capture_on_commit_callbacks):
    settings.ANNOTATE = {**settings.ANNOTATE, "WEBHOOK_TESTS_PER_MINUTE": 5}
    client = _api(world, "researcher")
    pk = client.post("/api/projects/proj-a/webhooks/", {"url": "https://hooks.example.org/t"}, format="json").json()
    url = f"/api/projects/proj-a/webhooks/{pk['id']}/test/"
    with django_capture_on_commit_callbacks():
        codes = [client.post(url).status_code for _ in range(20)]
    assert codes.count(429) == 15 and set(codes[:5]) <= {200, 201, 202}
    assert WebhookDelivery.objects.filter(endpoint_id=pk["id"]).count() == 5


def test_pages_and_answers_with_a_secret_are_not_stored(world, client_as):
    page = client_as("researcher").post(
        "/projects/proj-a/webhooks/", {"action": "add", "add-url": "https://h.example.org/x"}
    )
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    created = _api(world, "researcher").post("/api/projects/proj-a/webhooks/", {"url": "https://h.example.org/y"},
                                             format="json")  # fmt: skip
    assert created.status_code == 201 and "no-store" in created["Cache-Control"]
    token = APIClient().post("/api/auth/token/", {"username": "res", "password": "pw-res-123"}, format="json")
    assert token.status_code == 200 and "no-store" in token["Cache-Control"]
    page = client_as("researcher").post("/accounts/token/", {"action": "create"})
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    assert page.context["new_key"] and page.context["new_key"] in page.content.decode()


def test_pages_with_a_marketplace_completion_code_are_not_stored(world, client_as):
    """The completion code lets a worker claim the study's pay: the worker's task page and the researcher's pay
    page (whose form holds it) are no-store too."""
    from crowdpay.services.policy import pay_policy_set

    pay_policy_set(project=world.a.project, reward_cents=10, prolific_enabled=True, completion_code="C0DE-SECRET")
    pay = client_as("researcher").get("/projects/proj-a/pay/")
    assert pay.status_code == 200 and "C0DE-SECRET" in pay.content.decode() and pay["Cache-Control"] == "no-store"
    worker = Client()
    assert worker.get("/p/proj-a/start/?PROLIFIC_PID=w0rker1&STUDY_ID=st1&SESSION_ID=se1").status_code == 302
    task = worker.get("/p/proj-a/")
    assert task.status_code == 200 and task["Cache-Control"] == "no-store"


def test_blocked_addresses_are_reported_without_what_they_resolve_to(world, settings):
    from labeling.services.ingestion.fetch import url_fetch
    from labeling.services.ingestion.validation import Rejected
    from labeling.services.webhooks import webhook_delivery_attempt, webhook_send_test

    settings.ANNOTATE = {**settings.ANNOTATE, "FETCH_ALLOW_LOOPBACK_FOR_TESTS": False, "WEBHOOK_TIMEOUT_SECONDS": 2}
    endpoint = WebhookEndpoint.objects.create(project=world.a.project, url="https://localhost:9/x", secret="s" * 64)
    delivery = webhook_send_test(endpoint=endpoint)
    webhook_delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.error.startswith("blocked_address") and "127.0.0.1" not in delivery.error
    assert "::1" not in delivery.error and "resolves" not in delivery.error
    with pytest.raises(Rejected) as info:
        url_fetch("http://localhost:9/x.jpg")
    assert info.value.code == "blocked_address" and "127.0.0.1" not in info.value.message


@pytest.mark.parametrize("host", ["[::7f00:1]", "[::ffff:127.0.0.1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]",
                                  "[64:ff9b:1::a00:1]", "[2002:7f00:1::]", "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",
                                  "[fe80::1]", "[100::1]", "[::]"])  # fmt: skip
def test_every_ipv6_form_of_a_reserved_address_is_blocked(settings, host):
    from labeling.services.ingestion.fetch import url_fetch
    from labeling.services.ingestion.validation import Rejected
    from labeling.services.safe_http import address_blocked

    assert address_blocked(host)
    settings.ANNOTATE = {**settings.ANNOTATE, "FETCH_ALLOW_LOOPBACK_FOR_TESTS": False, "FETCH_TIMEOUT_SECONDS": 2}
    with pytest.raises(Rejected) as info:
        url_fetch(f"http://{host}/x.jpg")
    assert info.value.code == "blocked_address", (host, info.value.code, info.value.message)


def test_public_addresses_pass_the_reserved_address_check():
    from labeling.services.safe_http import address_blocked

    assert not any(address_blocked(a) for a in ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001::1"))


# --- training attempts ------------------------------------------------------------------------------------------


def test_a_run_that_keeps_killing_its_worker_ends_failed_with_a_reason(world, settings):
    from training.models import TrainingRun
    from training.services.execute import run_execute

    settings.ANNOTATE = {**settings.ANNOTATE, "TRAINING_MAX_ATTEMPTS": 3}
    run = world.a.objects["run"]
    TrainingRun.objects.filter(pk=run.pk).update(status="running", attempts=3, lease_owner="dead:1:x",
                                                 lease_expires_at=timezone.now() - timedelta(minutes=1))  # fmt: skip
    assert run_execute(run_id=run.pk, owner="w:2:y") == "too many attempts"
    run.refresh_from_db()
    assert run.status == "failed" and run.finished_at and "3 attempts" in run.error
    assert run.attempts == 3 and run.lease_owner == ""


# --- side channels ----------------------------------------------------------------------------------------------


def test_healthz_names_nothing_to_anonymous_users(db, make_user):
    body = Client().get("/healthz").content.decode()
    for word in ("sqlite", "postgresql", "redis", "filesystem", "detail"):
        assert word not in body.lower(), body
    staff = make_user("ops", role="admin")
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(staff)
    assert "detail" in client.get("/healthz").json()["database"]


def _sign_up(username: str):
    password = "a-Long-pass-42"
    form = {"username": username, "email": "n@example.org", "password1": password, "password2": password}
    return Client().post("/accounts/signup/", form)


LOOK_ALIKES = ["аdmin", "imported-coco", "Imported-votes", "ВОТ", "pаypal", "ｉｍｐｏｒｔｅｄ-x"]


@pytest.mark.parametrize("username", LOOK_ALIKES)
def test_look_alike_and_reserved_usernames_are_refused_at_sign_up(db, username):
    response = _sign_up(username)
    assert response.status_code == 200, "the form is shown again with the reason"
    assert not get_user_model().objects.filter(username=username).exists()


@pytest.mark.parametrize("username", ["小明", "王小明2024", "li_wei", "Zoë", "Иван", "たなか", "小明abc"])
def test_ordinary_names_in_any_one_script_are_welcome(db, username):
    assert _sign_up(username).status_code == 302
    assert get_user_model().objects.filter(username=username).exists()


def test_full_width_letters_are_stored_in_their_ordinary_form(db):
    assert _sign_up("ｒｕｔｈ").status_code == 302
    assert get_user_model().objects.filter(username="ruth").exists()


def test_a_person_named_like_an_import_account_never_receives_imported_votes(db, make_user):
    """Issue 22 finding 10: `imported-<source>` was found by username alone (get_or_create)."""
    from labeling.services.imports.service import IMPORT_GROUP, imported_annotator

    person = make_user("imported-coco", role="volunteer")  # signed up before the prefix was reserved
    with pytest.raises(ServiceError) as info:
        imported_annotator("coco")
    assert info.value.code == "source_name_taken"
    account = imported_annotator("yolo")
    assert not account.is_active and not account.has_usable_password()
    assert account.groups.filter(name=IMPORT_GROUP).exists() and not person.groups.filter(name=IMPORT_GROUP).exists()
    assert imported_annotator("yolo") == account


def test_the_migration_keys_old_exports_and_keeps_old_duplicates_apart(world):
    """Rows made before the constraint (options_key NULL) get their canonical key; old duplicates stay, the
    newest keeps the key and the others get an id suffix, so the constraint holds without deleting anything."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("labeling.migrations.0013_input_export_options_key")
    version = world.a.objects["version"]
    old = [DatasetExport.objects.create(version=version, format="webdataset", options={"shard_mb": 5.011},
                                        status="done") for _ in range(2)]  # fmt: skip
    migration.fill_keys(apps, None)
    keys = dict(DatasetExport.objects.filter(pk__in=[e.pk for e in old]).values_list("pk", "options_key"))
    assert keys[old[1].pk] == 'webdataset:{"shard_mb":5.0}'
    assert keys[old[0].pk] == f'webdataset:{{"shard_mb":5.0}}#legacy-{old[0].pk}'
    from labeling.services.exports.runner import dataset_export_request

    again = dataset_export_request(version=version, fmt="webdataset", options={"shard_mb": 5.004}, enqueue=False)
    assert again.pk == old[1].pk
