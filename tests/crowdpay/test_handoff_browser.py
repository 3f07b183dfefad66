"""A Prolific worker walked in headless Chromium: arrives with PROLIFIC_PID, STUDY_ID and SESSION_ID, gets an account
without the sign-up form, labels a grid by keyboard, and receives the completion code and the redirect back."""

from __future__ import annotations

import pytest

from crowdpay.models import EarningsEntry, MarketplaceSession
from crowdpay.services.policy import pay_policy_set
from labeling.models import Annotation
from tests.helpers.factories import make_project_with_items

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _urlconf_loaded():
    from django.urls import resolve

    resolve("/")


def test_prolific_worker_arrives_labels_and_gets_the_completion_code(new_page):
    project, _ = make_project_with_items(slug="study", n_items=40, categories=("owl",), needed_votes=1)
    pay_policy_set(project=project, reward_cents=10, prolific_enabled=True, completion_answers=12,
                   completion_code="C1A2B3C4")  # fmt: skip
    page = new_page()
    page.goto("/p/study/start/?PROLIFIC_PID=60f1e2d3c4b5a6978877aa01&STUDY_ID=stu42&SESSION_ID=ses77")
    assert page.url.endswith("/p/study/")
    assert "0" in page.inner_text("[data-testid=study-progress]")
    assert not page.query_selector("[data-testid=completion-code]")  # no code before the work is done

    page.click("[data-testid=start-labeling]")
    page.wait_for_selector("[data-testid=tile]")
    ids = page.eval_on_selector_all("[data-testid=tile]", "tiles => tiles.map(t => t.dataset.itemId)")
    assert len(ids) >= 12  # one grid is enough for the study's 12 answers
    page.keyboard.press("Space")  # all yes
    page.keyboard.press("Enter")  # submit
    page.wait_for_function("n => document.getElementById('label-status').textContent.includes(String(n))",
                           arg=len(ids))  # fmt: skip

    page.click("[data-testid=finish-study]")
    page.wait_for_selector("[data-testid=completion-code]")
    assert page.inner_text("[data-testid=completion-code]") == "C1A2B3C4"
    href = page.get_attribute("[data-testid=completion-redirect]", "href")
    assert href == "https://app.prolific.com/submissions/complete?cc=C1A2B3C4"

    session = MarketplaceSession.objects.get(worker_id="60f1e2d3c4b5a6978877aa01")
    assert (session.study_id, session.session_id, session.completed_at is not None) == ("stu42", "ses77", True)
    assert not session.user.has_usable_password()  # no password: the hand-off is its only way in
    assert Annotation.objects.filter(user=session.user).count() == len(ids)
    assert EarningsEntry.objects.filter(user=session.user, kind="answer").count() == len(ids)


def test_mturk_preview_and_bad_ids_get_no_account(client):
    project, _ = make_project_with_items(slug="hit", n_items=4, needed_votes=1)
    pay_policy_set(project=project, reward_cents=10, mturk_enabled=True)
    preview = client.get("/p/hit/start/?workerId=A1&assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=H1")
    assert preview.status_code == 403 and b"Accept the HIT" in preview.content
    bad = client.get("/p/hit/start/?workerId=A1&assignmentId=../../x&hitId=H1")
    assert bad.status_code == 400
    closed = client.get("/p/hit/start/?PROLIFIC_PID=abc&STUDY_ID=s&SESSION_ID=t")
    assert closed.status_code == 403  # this project takes no Prolific workers
    assert not MarketplaceSession.objects.exists()
