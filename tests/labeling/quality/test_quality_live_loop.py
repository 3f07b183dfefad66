"""Issue 22, the live quality loop as volunteers and reviewers live it (findings 1, 2, 3, 5, 6): honest fast people
never blocked, spammers blocked from online statistics within a few dozen answers with their votes removed,
blocked volunteers told why (page + API, with an appeal the reviewer sees), a per-project re-aggregation trigger and
a reviewer's "recompute now"."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from labeling.algorithms.agreement import fleiss_kappa, percent_agreement
from labeling.algorithms.boxes import box_set_iou
from labeling.models import Annotation, AnnotatorAppeal, AnnotatorScore, Item, Lease
from labeling.selectors.labeling import project_leaderboard, volunteer_projects
from labeling.services.annotations import annotations_submit_batch
from labeling.services.quality import project_reaggregate, rules
from labeling.services.quality.triggers import reaggregate_due
from tests.labeling.quality.qfactories import cast, make_project

pytestmark = pytest.mark.django_db


def truth(item: Item) -> int:
    return int(item.pk % 2 == 0)


def grid(user, project, items, labels, *, ms_per_tile: int) -> list[dict]:
    """One verify grid answered as the page sends it: one batch, the grid's time shared by its tiles."""
    for item in items:
        Lease.objects.update_or_create(
            item=item, user=user, defaults={"expires_at": timezone.now() + timedelta(minutes=5)}
        )
    answers = [
        {"item_id": i.pk, "submission_id": uuid.uuid4(), "answer": {"label": lab}, "time_spent_ms": ms_per_tile}
        for i, lab in zip(items, labels, strict=True)
    ]
    return annotations_submit_batch(user=user, project=project, answers=answers)


def reviewer_of(project, make_user, name: str):
    user = make_user(name, role="reviewer")
    project.reviewers.add(user)
    return user


def status_of(project, user) -> str:
    score = AnnotatorScore.objects.filter(project=project, user=user).first()
    return score.status if score else "new"


# --- 1: speed per task type, and never speed alone against good answers -------------------------------------


def ev(**kw):
    base = {"gold_seen": 0, "gold_high": None, "volume": 60, "timed": 60, "median_time_ms": None,
            "top_answer_share": 0.5, "consensus_top_share": 0.5}  # fmt: skip
    return rules.Evidence(**{**base, **kw})


def test_speed_is_judged_per_task_type_and_a_grid_as_one_decision():
    verify = rules.min_answer_ms("verify")
    # 18 tiles in 4.8 s: 266 ms a tile (the blocked volunteer of the issue) is a fast, honest grid
    assert rules.status_by_rules(ev(median_time_ms=266, min_answer_ms=verify))[0] == "active"
    # a grid sent in 0.5 s is not
    assert rules.status_by_rules(ev(median_time_ms=500 / 18, min_answer_ms=verify))[0] == "blocked"
    # one classify answer in 120 ms is faster than a person can look
    assert rules.status_by_rules(ev(median_time_ms=120, min_answer_ms=rules.min_answer_ms("classify")))[0] == "blocked"


def test_speed_alone_never_blocks_good_answers():
    fast = {"median_time_ms": 120, "min_answer_ms": 300}
    assert rules.status_by_rules(ev(**fast, agreement=0.97, agreement_n=40))[0] == "active"
    assert rules.status_by_rules(ev(**fast, gold_seen=20, gold_high=0.99, gold_low=0.85))[0] == "active"
    assert rules.status_by_rules(ev(**fast, agreement=0.6, agreement_n=40))[0] == "blocked"


def test_fast_honest_grid_volunteer_is_not_blocked_online_or_by_reaggregation(make_user):
    project, items = make_project(slug="fastgrid", n_items=72, min_votes=2, max_votes=5)
    fast = make_user("fast")
    for start in range(0, 72, 18):  # four grids of 18 tiles at 4.8 s each
        chunk = items[start : start + 18]
        grid(fast, project, chunk, [truth(i) for i in chunk], ms_per_tile=4800 // 18)
    assert status_of(project, fast) != "blocked"
    project_reaggregate(project_id=project.pk)
    assert status_of(project, fast) != "blocked"


def test_grid_bot_is_blocked_for_speed(make_user):
    project, items = make_project(slug="gridbot", n_items=72, min_votes=2, max_votes=5)
    bot = make_user("bot")
    for start in range(0, 72, 18):  # grids sent 0.36 s after they appeared
        chunk = items[start : start + 18]
        grid(bot, project, chunk, [truth(i) for i in chunk], ms_per_tile=20)
    assert status_of(project, bot) == "blocked"


# --- 3: spammers seen within minutes --------------------------------------------------------------------


def _honest_votes(project, items, users):
    for item in items:
        for user in users:
            cast(user, item, truth(item))


@pytest.mark.parametrize("kind", ["always_yes", "random"])
def test_spammer_is_blocked_online_within_30_answers_and_their_votes_stop_counting(
    make_user, kind, django_capture_on_commit_callbacks
):
    import random

    project, items = make_project(slug=f"spam-{kind}", n_items=60, min_votes=3, max_votes=7)
    honest = [make_user(f"h{i}-{kind}") for i in range(2)]
    _honest_votes(project, items, honest)
    spammer = make_user(f"spammer-{kind}")
    rng = random.Random(7)
    answered = 0
    with django_capture_on_commit_callbacks(execute=True):
        for start in range(0, 60, 12):
            chunk = items[start : start + 12]
            labels = [1] * 12 if kind == "always_yes" else [rng.randint(0, 1) for _ in chunk]
            results = grid(spammer, project, chunk, labels, ms_per_tile=900)
            answered += sum(r["ok"] for r in results)
            if status_of(project, spammer) == "blocked":
                break
    assert status_of(project, spammer) == "blocked"
    assert answered <= 30
    assert all(status_of(project, h) != "blocked" for h in honest)
    # retroactive: every item the spammer voted on counts the honest votes only
    for item in Item.objects.filter(annotations__user=spammer):
        assert item.votes_count == 2
    # the next grid is refused with the stable code
    results = grid(spammer, project, items[48:50], [1, 1], ms_per_tile=900)
    assert {r.get("code") for r in results} == {"annotator_blocked"}


def test_boxes_on_empty_images_are_flagged(make_user, django_capture_on_commit_callbacks):
    project, items = make_project(slug="boxspam", task_type="boxes", n_items=20, min_votes=3, max_votes=5)
    honest = [make_user(f"bh{i}") for i in range(2)]
    for item in items:  # empty grass: the honest draw nothing
        for user in honest:
            Lease.objects.update_or_create(
                item=item, user=user, defaults={"expires_at": timezone.now() + timedelta(minutes=5)}
            )
            annotations_submit_batch(
                user=user, project=project,
                answers=[{"item_id": item.pk, "submission_id": uuid.uuid4(), "answer": {"boxes": []},
                          "time_spent_ms": 3000}],
            )  # fmt: skip
    drawer = make_user("drawer")
    with django_capture_on_commit_callbacks(execute=True):
        for item in items[:12]:
            Lease.objects.update_or_create(
                item=item, user=drawer, defaults={"expires_at": timezone.now() + timedelta(minutes=5)}
            )
            annotations_submit_batch(
                user=drawer, project=project,
                answers=[{"item_id": item.pk, "submission_id": uuid.uuid4(), "answer": {"boxes": [[2, 2, 10, 10]]},
                          "time_spent_ms": 3000}],
            )  # fmt: skip
    assert status_of(project, drawer) == "blocked"
    assert all(status_of(project, h) != "blocked" for h in honest)
    assert box_set_iou([[0, 0, 10, 10]], [[0, 0, 10, 10]]) == 1.0
    assert box_set_iou([], []) == 1.0 and box_set_iou([[2, 2, 10, 10]], []) == 0.0


def test_reaggregation_trigger_is_per_project_by_answers_or_time(settings):
    settings.ANNOTATE = {"QUALITY_REAGGREGATE_EVERY": 10, "QUALITY_REAGGREGATE_SECONDS": 60}
    cache.clear()
    assert not reaggregate_due(project_id=1, votes=6)
    assert not reaggregate_due(project_id=2, votes=9)  # another project's answers do not count here
    assert reaggregate_due(project_id=1, votes=4)  # 10 answers of project 1
    assert not reaggregate_due(project_id=1, votes=1)  # the counters restarted
    cache.set("quality:live:since:1", time.time() - 61, timeout=None)
    assert reaggregate_due(project_id=1, votes=1)  # a minute since its first answer, however few
    settings.ANNOTATE = {"QUALITY_REAGGREGATE_EVERY": 0}
    assert not reaggregate_due(project_id=1, votes=100)  # 0: off


def test_recompute_now_is_a_reviewer_post(make_user, client, django_capture_on_commit_callbacks):
    project, _items = make_project(slug="recompute", n_items=4)
    client.force_login(make_user("volunteer"))
    assert client.post(f"/projects/{project.slug}/annotators/recompute/").status_code in (403, 404)
    client.force_login(reviewer_of(project, make_user, "rev"))
    assert client.get(f"/projects/{project.slug}/annotators/recompute/").status_code == 405
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"/projects/{project.slug}/annotators/recompute/")
    assert response.status_code == 302 and len(callbacks) == 1
    html = client.get(f"/projects/{project.slug}/annotators/").content.decode()
    assert 'data-testid="recompute"' in html


# --- 2: a blocked volunteer is told, with a way to ask a reviewer ---------------------------------------------


def test_blocked_volunteer_is_told_why_on_page_api_and_home_and_can_appeal(make_user, client, api_client):
    from labeling.services.quality import annotator_block

    project, items = make_project(slug="told", n_items=6)
    volunteer = make_user("told-v")
    reviewer = reviewer_of(project, make_user, "told-r")
    cast(volunteer, items[0], 1)
    annotator_block(project=project, user=volunteer, by=reviewer, reason="same answer on every item")

    api_client.force_authenticate(volunteer)
    response = api_client.get(f"/api/projects/{project.slug}/next")
    assert response.status_code == 403
    assert response.json()["code"] == "annotator_blocked"
    assert "same answer on every item" in response.json()["detail"]
    (row,) = [p for p in api_client.get("/api/projects/").json() if p["slug"] == project.slug]
    assert row["blocked"] is True and row["open_items"] == 0

    client.force_login(volunteer)
    page = client.get(f"/projects/{project.slug}/label/")
    assert page.status_code == 403
    html = page.content.decode()
    assert 'data-testid="label-blocked"' in html and "same answer on every item" in html
    home = client.get("/").content.decode()
    assert 'data-testid="project-blocked"' in home and "left for you" not in home

    response = client.post(f"/projects/{project.slug}/label/appeal/", {"text": "I was careful, please look again"})
    assert response.status_code == 302
    assert AnnotatorAppeal.objects.filter(project=project, user=volunteer, resolved_at__isnull=True).count() == 1
    assert api_client.post(f"/api/projects/{project.slug}/appeal", {"text": "again"}, format="json").status_code == 201
    assert AnnotatorAppeal.objects.filter(project=project, user=volunteer).count() == 1  # one open note

    client.force_login(reviewer)
    html = client.get(f"/projects/{project.slug}/annotators/").content.decode()
    assert 'data-testid="appeal"' in html and "again" in html and "same answer on every item" in html


def test_appeal_needs_a_block(make_user, api_client):
    project, _items = make_project(slug="noappeal", n_items=2)
    api_client.force_authenticate(make_user("free"))
    response = api_client.post(f"/api/projects/{project.slug}/appeal", {"text": "hi"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "not_blocked"


# --- 5, 6: the reviewer's and the volunteer's pages ------------------------------------------------------------


def test_annotators_page_cells_follow_the_headers(make_user, client):
    project, items = make_project(slug="cols", n_items=6, min_votes=1, max_votes=3)
    from labeling.services.quality import gold_set

    v = make_user("colv")
    gold_set(item=items[0], label=1)
    cast(v, items[0], 1)
    AnnotatorScore.objects.filter(project=project, user=v).update(ds_accuracy=0.91, evidence=7)
    client.force_login(reviewer_of(project, make_user, "colr"))
    html = client.get(f"/projects/{project.slug}/annotators/").content.decode()
    head = html[html.index("<thead>") : html.index("</thead>")]
    row = html[html.index('data-testid="annotator-row"') :]
    assert head.index("Estimated accuracy") < head.index("Evidence") < head.index("Gold (Wilson")
    est, evid = row.index('data-testid="estimated"'), row.index('data-testid="evidence"')
    gold = row.index('data-testid="gold"')
    assert est < evid < gold
    assert "0.91" in row[est:evid] and ">7<" in row[evid:gold] and "1/1" in row[gold:]


def test_leaderboard_leaves_out_blocked_annotators(make_user):
    from labeling.services.quality import annotator_block

    project, items = make_project(slug="board", n_items=6)
    good, bad = make_user("good"), make_user("bad")
    for item in items[:2]:
        cast(good, item, 1)
    for item in items[:4]:
        cast(bad, item, 1)
    assert [r["username"] for r in project_leaderboard(project=project)] == ["bad", "good"]
    annotator_block(project=project, user=bad, by=None, reason="spam")
    assert [r["username"] for r in project_leaderboard(project=project)] == ["good"]


def test_kappa_prevalence_paradox_reported_with_pairwise_agreement():
    """Nearly every vote says yes and nearly every pair agrees: kappa is low by construction (chance agreement
    is close to 1), which is the estimator, not a bug; the page shows the pairwise agreement beside it."""
    import numpy as np

    counts = np.array([[0, 3]] * 38 + [[1, 2]] * 2)  # 40 items, 3 votes each, 2 stray "no"
    kappa = fleiss_kappa(counts)
    observed = percent_agreement(counts)
    assert observed == pytest.approx((38 * 1.0 + 2 * (1 / 3)) / 40)
    p_yes = 118 / 120
    chance = p_yes**2 + (1 - p_yes) ** 2
    assert kappa == pytest.approx((observed - chance) / (1 - chance))  # Fleiss' formula, computed right
    assert kappa < 0.0 < 0.95 < observed


def test_quality_page_shows_pairwise_agreement(make_user, client):
    project, items = make_project(slug="kappa", n_items=4)
    for user in (make_user("k1"), make_user("k2")):
        for item in items:
            cast(user, item, 1)
    client.force_login(reviewer_of(project, make_user, "kr"))
    html = client.get(f"/projects/{project.slug}/quality/").content.decode()
    assert 'data-testid="percent-agreement"' in html and "Pairwise agreement" in html


def test_reviewer_sees_each_annotators_boxes(make_user, client):
    project, items = make_project(slug="theirboxes", task_type="boxes", n_items=2, min_votes=1, max_votes=3)
    v = make_user("boxv")
    Lease.objects.create(item=items[0], user=v, expires_at=timezone.now() + timedelta(minutes=5))
    annotations_submit_batch(user=v, project=project, answers=[
        {"item_id": items[0].pk, "submission_id": uuid.uuid4(), "answer": {"boxes": [[1, 2, 10, 12]]}}])  # fmt: skip
    client.force_login(reviewer_of(project, make_user, "boxr"))
    html = client.get(f"/projects/{project.slug}/annotators/").content.decode()
    assert 'data-testid="their-boxes"' in html
    html = client.get(f"/projects/{project.slug}/annotators/{v.pk}/boxes/").content.decode()
    assert html.count('data-testid="their-box"') == 1
    assert 'width="10.0"' in html or 'width="10"' in html


def test_home_count_is_zero_for_a_blocked_volunteer(make_user):
    from labeling.services.quality import annotator_block

    project, _items = make_project(slug="zero", n_items=5)
    v = make_user("zv")
    assert volunteer_projects(user=v).get(pk=project.pk).open_items == 5
    annotator_block(project=project, user=v, by=None, reason="x")
    row = volunteer_projects(user=v).get(pk=project.pk)
    assert (row.open_items, row.blocked) == (0, True)
    assert Annotation.objects.count() == 0


# --- 12: imported gold enters dataset versions, and the header does not count it as open ---------------------


def test_open_gold_enters_a_version_with_gold_included(make_user, client):
    from labeling.models import DatasetVersionItem, Item
    from labeling.services.datasets import dataset_version_create
    from labeling.services.quality import gold_set

    project, items = make_project(slug="goldver", task_type="classify", categories=("a", "b"), n_items=4)
    cat = project.categories.order_by("id").first()
    for item in items[:2]:  # gold as an import leaves it: known answer, status still open
        gold_set(item=item, label=cat.pk)
    assert set(Item.objects.filter(is_gold=True).values_list("status", flat=True)) == {"open"}
    with_gold = dataset_version_create(project=project, include_gold=True)
    assert DatasetVersionItem.objects.filter(version=with_gold, is_gold=True).count() == 2
    without = dataset_version_create(project=project, include_gold=False)
    assert DatasetVersionItem.objects.filter(version=without).count() == 0
    owner = make_user("gv-owner", role="researcher")
    project.owners.add(owner)
    client.force_login(owner)
    html = client.get(f"/projects/{project.slug}/").content.decode()
    assert "open: 2" in html and "gold: 2" in html  # 4 items, 2 of them gold: 2 open


# --- 3 (assignment), 15: started items first, leases that do not lock what others wait for --------------------


def test_classify_finishes_started_items_before_opening_new_ones(make_user):
    from labeling.services.assignment import next_items

    project, _items = make_project(slug="concentrate", task_type="classify", categories=("a", "b"), n_items=30)
    c1 = make_user("c1")
    first = next_items(user=c1, project=project, n=5)
    for item in first:
        cast(c1, item, -1)
    second = next_items(user=make_user("c2"), project=project, n=5)
    assert {i.pk for i in second} == {i.pk for i in first}  # the started items, not five fresh ones


def test_release_endpoint_takes_a_beacon_form_with_the_csrf_token(make_user):
    from django.test import Client

    from labeling.services.assignment import next_items

    project, _items = make_project(slug="beacon", n_items=20)
    user = make_user("closer")
    batch = next_items(user=user, project=project, n=12)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(f"/projects/{project.slug}/label/")  # the page sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    url = f"/api/projects/{project.slug}/release"
    ids = ",".join(str(i.pk) for i in batch[:5])
    assert client.post(url, {"ids": ids}).status_code == 403  # no token: refused
    assert Lease.objects.filter(user=user).count() == 12
    assert client.post(url, {"ids": ids, "csrfmiddlewaretoken": token}).status_code == 204
    assert Lease.objects.filter(user=user).count() == 7


def test_preloaded_batches_are_held_shorter_and_idle_leases_do_not_lock_items(make_user):
    from labeling.services.assignment import IDLE_LEASE, lease_ttl, next_items

    project, _items = make_project(slug="idle", task_type="classify", categories=("a", "b"), n_items=4, min_votes=1)
    idle = make_user("idle-tab")
    shown = next_items(user=idle, project=project, n=2)
    preloaded = next_items(user=idle, project=project, n=2, exclude_ids=[i.pk for i in shown])
    ttl = {lease.item_id: lease.expires_at - lease.created_at for lease in Lease.objects.filter(user=idle)}
    assert all(ttl[i.pk] > lease_ttl() * 0.9 for i in shown)
    assert all(ttl[i.pk] < lease_ttl() * 0.5 for i in preloaded)
    waiting = make_user("waiting")
    assert next_items(user=waiting, project=project, n=4) == []  # every item held (min votes 1)
    Lease.objects.filter(user=idle).update(created_at=timezone.now() - IDLE_LEASE - timedelta(seconds=5))
    assert len(next_items(user=waiting, project=project, n=4)) == 4  # the idle tab no longer locks them


# --- 13: category keys never collide with categories named by digits -----------------------------------------


def test_category_keys_follow_digit_names(tmp_path):
    import json
    import shutil
    import subprocess
    from pathlib import Path

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    keys_js = Path(__file__).resolve().parents[3] / "static" / "labeling" / "keys.js"
    script = tmp_path / "run.mjs"
    digits = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    script.write_text(
        f"import {{ categoryKeys }} from {json.dumps(keys_js.as_uri())};\n"
        f"console.log(JSON.stringify([categoryKeys({json.dumps(digits)}), categoryKeys(['cat', 'dog']),"
        f" categoryKeys(['3', '7', 'other'])]));\n"
    )
    out = json.loads(subprocess.run([node, str(script)], capture_output=True, text=True, check=True).stdout)
    assert out[0] == [str(i) for i in range(10)]  # 1 picks "one", 0 picks "zero"
    assert out[1] == ["1", "2"]
    assert out[2] == ["3", "7", "b"]  # digits by name, the others a letter that no page key uses
