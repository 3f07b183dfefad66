"""The earnings ledger on the vote path: one entry per accepted answer, replays never pay twice, blocked authors'
answers reversed, grids, bonuses by Wilson lower bound, the budget stopping assignment, payout files."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest
from django.db import IntegrityError, connection, transaction

from crowdpay.models import EarningsEntry, Payout
from crowdpay.selectors import fair_pay, forecast, worker_earnings
from crowdpay.services.bonus import bonus_eligible, bonuses_award
from crowdpay.services.ledger import earned_cents, ledger_reconcile
from crowdpay.services.payouts import payout_create
from crowdpay.services.policy import pay_policy_set
from labeling.models import AnnotatorScore, Item
from labeling.services.annotations import annotations_submit_batch
from labeling.services.assignment import next_items
from labeling.services.quality.overrides import annotator_block
from tests.helpers.factories import make_project_with_items

pytestmark = pytest.mark.django_db


def _label(user, project, n=12, time_ms=3000):
    items = next_items(user=user, project=project, n=n)
    answers = [{"item_id": i.pk, "submission_id": str(uuid.uuid4()), "answer": {"label": 1},
                "time_spent_ms": time_ms} for i in items]  # fmt: skip
    results = annotations_submit_batch(user=user, project=project, answers=answers)
    assert all(r["ok"] for r in results)
    return answers


def test_each_accepted_answer_is_paid_once_and_replays_pay_nothing(make_user):
    project, _ = make_project_with_items(slug="paid", n_items=30, needed_votes=1)
    pay_policy_set(project=project, reward_cents=7)
    ann = make_user("ann")
    answers = _label(ann, project)
    assert earned_cents(project=project, user_id=ann.pk) == 7 * len(answers) == 84
    # The same grid posted again (a retry after a lost response): the answers replay, the ledger does not move.
    results = annotations_submit_batch(user=ann, project=project, answers=answers)
    assert all(r["ok"] and not r["created"] for r in results)
    assert EarningsEntry.objects.filter(user=ann).count() == 12
    assert earned_cents(project=project, user_id=ann.pk) == 84
    # The database refuses a second entry for an answer, and (PostgreSQL) any change of an entry.
    entry = EarningsEntry.objects.filter(user=ann).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        EarningsEntry.objects.create(project=project, user=ann, kind="answer", amount_cents=7, key=entry.key)
    if connection.vendor == "postgresql":
        with pytest.raises(Exception, match="append-only"), transaction.atomic():
            EarningsEntry.objects.filter(pk=entry.pk).update(amount_cents=700)
    with pytest.raises(IntegrityError), transaction.atomic():  # sign by kind
        EarningsEntry.objects.create(project=project, user=ann, kind="bonus", amount_cents=-5, key="bonus:x")
    [totals] = worker_earnings(user=ann)
    assert (totals.earned_cents, totals.balance_cents, totals.answers) == (84, 84, 12)


def test_unpaid_project_writes_no_ledger(make_user):
    project, _ = make_project_with_items(slug="free", n_items=12, needed_votes=1)
    _label(make_user("bob"), project)
    assert not EarningsEntry.objects.exists()


def test_blocked_author_answers_are_reversed_once(make_user):
    project, _ = make_project_with_items(slug="paid", n_items=40, needed_votes=2)
    reviewer = make_user("rev", role="reviewer")
    pay_policy_set(project=project, reward_cents=5)
    spam, good = make_user("spam"), make_user("good")
    _label(spam, project)
    _label(good, project)
    annotator_block(project=project, user=spam, by=reviewer, reason="spam")
    assert earned_cents(project=project, user_id=spam.pk) == 0
    assert EarningsEntry.objects.filter(user=spam, kind="reversal").count() == 12
    ledger_reconcile(project=project)  # the payout's reconcile finds nothing more to reverse
    assert EarningsEntry.objects.filter(user=spam, kind="reversal").count() == 12
    assert earned_cents(project=project) == 5 * 12


def test_grid_reward_pays_complete_grids(make_user):
    project, _ = make_project_with_items(slug="grid", n_items=60, needed_votes=1)
    pay_policy_set(project=project, reward_cents=50, grid_size=12)
    ann = make_user("ann")
    _label(ann, project, n=12)
    _label(ann, project, n=6)
    assert earned_cents(project=project, user_id=ann.pk) == 50  # 18 answers: one complete grid
    _label(ann, project, n=6)
    assert earned_cents(project=project, user_id=ann.pk) == 100


def test_bonus_rule_is_a_wilson_lower_bound_and_paid_once_per_period(make_user):
    assert not bonus_eligible(correct=9, seen=10, min_gold=10, wilson_min=0.8)  # low bound 0.60
    assert bonus_eligible(correct=48, seen=50, min_gold=10, wilson_min=0.8)  # low bound 0.87
    assert not bonus_eligible(correct=5, seen=5, min_gold=10, wilson_min=0.0)  # too little evidence
    project, _ = make_project_with_items(slug="bonus", n_items=24, needed_votes=2)
    pay_policy_set(project=project, reward_cents=5, bonus_cents=100, bonus_min_gold=10, bonus_wilson_min=0.8)
    ace, meh = make_user("ace"), make_user("meh")
    _label(ace, project)
    _label(meh, project)
    AnnotatorScore.objects.filter(user=ace).update(gold_seen=50, gold_correct=48)  # what the quality engine keeps
    AnnotatorScore.objects.filter(user=meh).update(gold_seen=10, gold_correct=9)
    assert bonuses_award(project=project, period="2026-W49") == [ace.pk]
    assert bonuses_award(project=project, period="2026-W49") == []
    assert earned_cents(project=project, user_id=ace.pk) == 60 + 100
    assert bonuses_award(project=project, period="2026-W50") == [ace.pk]


def test_budget_stops_assignment_before_the_money_runs_out(make_user):
    project, _ = make_project_with_items(slug="budget", n_items=100, needed_votes=3)
    pay_policy_set(project=project, reward_cents=10, budget_cents=10 * 30)  # 30 answers
    users = [make_user(f"u{i}") for i in range(4)]
    held = [next_items(user=u, project=project, n=12) for u in users]
    assert [len(h) for h in held] == [12, 12, 6, 0]  # the leases reserve the money
    for user, items in zip(users, held, strict=True):
        annotations_submit_batch(
            user=user,
            project=project,
            answers=[{"item_id": i.pk, "submission_id": str(uuid.uuid4()), "answer": {"label": 1}} for i in items],
        )
    assert earned_cents(project=project) == 300
    assert next_items(user=users[3], project=project, n=12) == []
    f = forecast(project=project)
    assert f.spent_cents == 300 and f.budget_left_cents == 0 and f.affordable_answers == 0
    assert f.remaining_answers == 100 * 3 - 30 and f.cost_cents == f.remaining_answers * 10
    assert f.answers_per_day > 0 and f.days is not None


def test_fair_pay_hourly_estimate_and_warning(make_user):
    project, _ = make_project_with_items(slug="fair", n_items=24, needed_votes=2)
    pay_policy_set(project=project, reward_cents=5, min_hourly_cents=1000)
    slow, fast = make_user("slow"), make_user("fast")
    _label(slow, project, time_ms=30_000)  # 120 answers an hour x 5 cents = 600 cents: under the minimum
    _label(fast, project, time_ms=9_000)  # 400 an hour = 2000 cents
    from labeling.services.quality.reaggregate import project_reaggregate  # the scores' median times

    project_reaggregate(project_id=project.pk)
    rows = {r.username: r for r in fair_pay(project=project)}
    assert rows["slow"].hourly_cents == 600 and rows["slow"].below_minimum
    assert rows["fast"].hourly_cents == 2000 and not rows["fast"].below_minimum


def test_payout_files_in_marketplace_formats_pay_each_balance_once(make_user, client):
    from crowdpay.models import MarketplaceSession

    project, _ = make_project_with_items(slug="payout", n_items=40, needed_votes=3)
    pay_policy_set(project=project, reward_cents=15, prolific_enabled=True, mturk_enabled=True, currency="gbp")
    response = client.get("/p/payout/start/?PROLIFIC_PID=5f1a2b3c4d&STUDY_ID=st1&SESSION_ID=se1")
    assert response.status_code == 302
    pro = MarketplaceSession.objects.get(worker_id="5f1a2b3c4d").user
    client.logout()
    client.get("/p/payout/start/?workerId=A1TURK&assignmentId=ASG1&hitId=HIT1")
    turk = MarketplaceSession.objects.get(worker_id="A1TURK").user
    local = make_user("local")
    for user in (pro, turk, local):
        _label(user, project)
    prolific = payout_create(project=project, fmt="prolific")
    assert prolific.text == "5f1a2b3c4d,1.80\n"
    mturk = payout_create(project=project, fmt="mturk")
    rows = list(csv.DictReader(io.StringIO(mturk.text)))
    assert rows[0]["WorkerId"] == "A1TURK" and rows[0]["AssignmentId"] == "ASG1" and rows[0]["BonusAmount"] == "1.80"
    assert rows[0]["UniqueRequestToken"].startswith(f"annotate-{project.pk}-")
    generic = payout_create(project=project, fmt="csv")
    rows = list(csv.DictReader(io.StringIO(generic.text)))
    assert [(r["username"], r["amount"], r["currency"]) for r in rows] == [("local", "1.80", "GBP")]
    # Everyone is paid: the next file is empty, the balances are zero, the earnings stay.
    again = payout_create(project=project, fmt="csv")
    assert again.lines == [] and Payout.objects.count() == 3
    assert earned_cents(project=project) == 3 * 12 * 15
    assert all(t.balance_cents == 0 for u in (pro, turk, local) for t in worker_earnings(user=u))
    assert Item.objects.filter(project=project).exists()


def test_payouts_command_writes_the_file_and_records_it(make_user, tmp_path, capsys):
    from django.core.management import call_command

    project, _ = make_project_with_items(slug="cli", n_items=24, needed_votes=1)
    pay_policy_set(project=project, reward_cents=25)
    _label(make_user("ann"), project)
    out = tmp_path / "payout.csv"
    call_command("payouts", "--project", "cli", "--format", "csv", "--out", str(out), "--json")
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["workers"] == 1 and report["total_cents"] == 300
    assert out.read_text().splitlines()[1].split(",")[4] == "3.00"
    call_command("payouts", "--project", "cli", "--format", "csv", "--json")
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["total_cents"] == 0


def test_the_budget_check_costs_three_statements_and_unpaid_projects_none(make_user):
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for slug, budget in (("nobudget", None), ("budgeted", 10_000)):
        project, _ = make_project_with_items(slug=slug, n_items=40, needed_votes=3)
        pay_policy_set(project=project, reward_cents=5, budget_cents=budget)
        user = make_user(f"u-{slug}")
        _label(user, project)  # a history, as in the assignment's own query budget
        with CaptureQueriesContext(connection) as ctx:
            assert len(next_items(user=user, project=project, n=12)) == 12
        counts[slug] = len(ctx.captured_queries)
    assert counts["budgeted"] == counts["nobudget"] + 3  # lock, grid size, earnings + leases in one snapshot
