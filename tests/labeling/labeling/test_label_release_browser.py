"""Closing the labeling tab gives its items back at once: the page's `pagehide` beacon releases the batch on
screen and the preloaded one, so a volunteer waiting for the same items is not locked out by a closed tab."""

from __future__ import annotations

import time

import pytest

from labeling.models import Lease
from labeling.services.assignment import next_items
from tests.conftest import browser_login
from tests.helpers.factories import make_project_with_items


def wait_for(predicate, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_closing_the_tab_releases_its_leases(new_page, make_user):
    from django.urls import resolve

    resolve("/")
    project, _ = make_project_with_items(slug="closetab", n_items=40, categories=("owl",), needed_votes=1)
    leaver = make_user("leaver")
    page = new_page()
    browser_login(page, "leaver", "pw-leaver-123")
    page.goto(f"/projects/{project.slug}/label/")
    page.wait_for_selector("[data-testid=tile]")
    # The preload is fetched after the first batch shows; a tab closed while it is in flight leaves the
    # preloaded batch leased for the short preload lease.
    page.wait_for_load_state("networkidle")
    held = Lease.objects.filter(user=leaver).count()
    assert held >= page.locator("[data-testid=tile]").count() > 0

    page.close()  # the tab closes: its beacon gives the batch on screen and the preloaded one back
    wait_for(lambda: not Lease.objects.filter(user=leaver).exists())
    waiting = make_user("waiting")
    assert len(next_items(user=waiting, project=project, n=40)) == 40  # every item free for the next volunteer
