"""The ledger under the 64-volunteer fault load: gunicorn on PostgreSQL, forced client timeouts and retries of the
same submission ids, and gunicorn workers SIGKILLed at three points of the run's progress (gunicorn starts new
ones). The sum of the earning entries equals the reward x accepted answers, to the cent: no answer paid twice,
none paid that was not stored, every answer of a worker the gold blocked reversed."""

from __future__ import annotations

import os
import signal
import threading

import psutil
import pytest
from django.db.models import Count, Sum

from bench._http_load import integrity_report, run_volunteers, start_gunicorn, stop_process
from bench.assign import VOTES, free_port, seed, warm_up
from crowdpay.models import EarningsEntry
from crowdpay.services.ledger import EARNING_KINDS, ledger_reconcile
from crowdpay.services.policy import pay_policy_set
from labeling.models import Annotation, AnnotatorScore, Project
from tests.helpers import workers
from tests.helpers.services import require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

VOLUNTEERS = 64
ANSWERS = int(os.environ.get("FAULTS_LOAD_ANSWERS", "800"))
REWARD = 3


def _kill_workers(server, project_id: int, stop: threading.Event, killed: list[int]) -> None:
    """SIGKILL a gunicorn worker (the master replaces it), as a crashed web process dies, three times: when the
    stored answers pass 10 %, 35 % and 60 % of the run's target. By progress, not by the clock: a fast run and a
    slow one (a loaded CI machine) are both hit mid-run."""
    from django.db import connection

    master = psutil.Process(server.pid)
    marks = [int(ANSWERS * share) for share in (0.1, 0.35, 0.6)]
    try:
        while marks and not stop.wait(0.05):
            if Annotation.objects.filter(item__project_id=project_id).count() < marks[0]:
                continue
            children = [c for c in master.children() if c.is_running()]
            if children:
                try:
                    os.kill(children[0].pid, signal.SIGKILL)
                    killed.append(children[0].pid)
                    marks.pop(0)
                except ProcessLookupError:
                    pass
    finally:
        connection.close()


def test_64_volunteers_with_retries_and_killed_web_workers_are_paid_exactly():
    require_postgres()
    slug, tokens = seed(int(ANSWERS / VOTES * 1.25) + VOLUNTEERS * 16, VOLUNTEERS)
    project = Project.objects.get(slug=slug)
    pay_policy_set(project=project, reward_cents=REWARD)
    port = free_port()
    server = start_gunicorn(database_url=workers.test_database_url(), port=port, workers=2, threads=8)
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_workers, args=(server, project.pk, stop, killed))
    try:
        base = f"http://127.0.0.1:{port}"
        warm_up(base, tokens[0], 2)
        killer.start()
        res = run_volunteers(base=base, slug=slug, tokens=tokens, target_answers=ANSWERS, seconds=240,
                             timeout_every=4)  # fmt: skip
    finally:
        stop.set()
        if killer.is_alive():
            killer.join()
        stop_process(server)
    counts = integrity_report(res, project_slug=slug)
    # A worker killed after its commit never answered: that answer is stored but unacknowledged (then replayed to
    # the client's retry, or not). Nothing acknowledged is lost.
    assert counts["lost"] == 0 and counts["stored"] > 0, counts
    assert len(killed) == 3, f"{len(killed)} web workers killed during the run"

    ledger_reconcile(project=project)  # blocks decided by a re-aggregation are reversed at settlement
    entries = EarningsEntry.objects.filter(project=project)
    answers = Annotation.objects.filter(item__project=project)
    blocked = set(AnnotatorScore.objects.filter(project=project, status="blocked").values_list("user_id", flat=True))
    credited = entries.filter(kind="answer")
    assert credited.count() == answers.count()  # every stored answer paid, none that was not stored
    assert set(credited.values_list("annotation_id", flat=True)) == set(answers.values_list("id", flat=True))
    assert not credited.values("annotation_id").annotate(n=Count("id")).filter(n__gt=1).exists()
    total = entries.filter(kind__in=EARNING_KINDS).aggregate(s=Sum("amount_cents"))["s"]
    assert total == REWARD * answers.exclude(user_id__in=blocked).count()
