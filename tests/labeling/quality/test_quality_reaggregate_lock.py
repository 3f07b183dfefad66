"""One re-aggregation per project at a time (issue 22, finding 19): a second run while one holds the project's
advisory lock returns at once (`skipped`) instead of writing an older snapshot over a newer one (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from annotate.db import run_lock
from labeling.services.quality import project_reaggregate
from labeling.services.quality.reaggregate import LOCK_CLASS
from tests.helpers.services import require_postgres
from tests.labeling.quality.qfactories import cast, make_project

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_second_reaggregation_of_a_project_leaves_while_one_runs(make_user):
    require_postgres()
    project, items = make_project(slug="lock", n_items=2, min_votes=2, max_votes=7)
    cast(make_user("a"), items[0], 1)
    holding, release, errors = threading.Event(), threading.Event(), []

    def running() -> None:  # another worker's re-aggregation of the project, holding the lock
        try:
            with run_lock(LOCK_CLASS, project.pk) as acquired:
                assert acquired
                holding.set()
                release.wait(30)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=running)
    thread.start()
    try:
        assert holding.wait(30)
        assert project_reaggregate(project_id=project.pk).skipped
        other, _ = make_project(slug="lock2", n_items=1, min_votes=2, max_votes=7, seed0=3000)
        assert not project_reaggregate(project_id=other.pk).skipped  # per project: others are not held up
    finally:
        release.set()
        thread.join(30)
    assert not errors, errors
    assert not project_reaggregate(project_id=project.pk).skipped
