"""A browser walk per role through the seeded demo (headless Chromium, as the other browser tests).

Each test seeds a small demo (`manage.py demo --seed-only`, 4 crops per photo, no training run: the researcher
starts one here) and logs in with the password the demo printed into var/demo_logins.json. Synchronisation is by
explicit waits on the page or on the database, never by sleeping.
"""

from __future__ import annotations

import json
import time

import pytest
from django.core.management import call_command

from annotate.demo.seed import BOXES, CARELESS, CLASSIFY, VERIFY
from labeling.models import Annotation, AnnotatorScore, DatasetVersion, Project
from tests.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FEEDBACK = "[data-testid=practice-feedback]"


@pytest.fixture(autouse=True)
def _urlconf_loaded():
    from django.urls import resolve

    resolve("/")


@pytest.fixture
def demo(tmp_path, settings) -> dict[str, str]:
    settings.VAR_DIR = tmp_path
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("demo", "--seed-only", "--per-class", "4", "--no-train")
    return json.loads((tmp_path / "demo_logins.json").read_text())


def wait_for(predicate, timeout: float = 15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)  # polling the database, not synchronising the page
    raise AssertionError("condition not met in time")


def _answers(username: str, slug: str) -> int:
    return Annotation.objects.filter(user__username=username, item__project__slug=slug).count()


def _through_practice(page, answer_keys: list[str], ready: str) -> None:
    """Answer the practice items (with `answer_keys`, then Enter where needed) until regular work shows."""
    for _ in range(6):
        page.wait_for_selector(f"{ready}, {FEEDBACK}")
        if page.locator(FEEDBACK).count() == 0:
            return
        page.keyboard.press("Space")  # any key goes on
        page.wait_for_selector(FEEDBACK, state="detached")
        page.wait_for_selector(ready)
        for key in answer_keys:
            page.keyboard.press(key)


def test_volunteer_labels_each_task_type_with_the_advertised_keys(new_page, demo):
    page = new_page()
    browser_login(page, "volunteer1", demo["volunteer1"])
    for slug in (VERIFY, CLASSIFY, BOXES):
        page.wait_for_selector(f"[data-testid=label-{slug}]")

    # Verify grid: A marks every tile yes, Enter submits; practice feedback goes on with any key.
    page.click(f"[data-testid=label-{VERIFY}]")
    page.wait_for_selector("[data-testid=tile]")
    page.keyboard.press("a")
    page.keyboard.press("Enter")
    wait_for(lambda: _answers("volunteer1", VERIFY) >= 3)
    _through_practice(page, ["a", "Enter"], "[data-testid=tile]")
    before = _answers("volunteer1", VERIFY)
    page.keyboard.press("i")  # invert: all yes -> all no is also an answer
    page.keyboard.press("Enter")
    wait_for(lambda: _answers("volunteer1", VERIFY) > before)

    # Classify: a number key picks the category (and submits).
    page.goto(f"/projects/{CLASSIFY}/label/")
    page.wait_for_selector(".classify-image")
    page.keyboard.press("1")
    wait_for(lambda: _answers("volunteer1", CLASSIFY) >= 1)
    _through_practice(page, ["1"], ".classify-image")
    before = _answers("volunteer1", CLASSIFY)
    page.keyboard.press("2")
    wait_for(lambda: _answers("volunteer1", CLASSIFY) > before)

    # Boxes (detection): a number key picks the category, drag draws the box, Enter submits.
    page.goto(f"/projects/{BOXES}/label/")
    page.wait_for_selector("[data-testid=boxes-image]")
    page.keyboard.press("1")
    rect = page.locator("[data-testid=boxes-image]").bounding_box()
    page.mouse.move(rect["x"] + 0.2 * rect["width"], rect["y"] + 0.2 * rect["height"])
    page.mouse.down()
    page.mouse.move(rect["x"] + 0.5 * rect["width"], rect["y"] + 0.5 * rect["height"])
    page.mouse.move(rect["x"] + 0.8 * rect["width"], rect["y"] + 0.8 * rect["height"])
    page.mouse.up()
    page.keyboard.press("Enter")
    wait_for(lambda: _answers("volunteer1", BOXES) >= 1)
    answer = Annotation.objects.filter(user__username="volunteer1", item__project__slug=BOXES).first().answer
    first_category = Project.objects.get(slug=BOXES).categories.order_by("id").first().pk
    assert answer["boxes"] and answer["boxes"][0][4] == first_category


def test_reviewer_finds_and_blocks_the_careless_volunteer(new_page, demo):
    page = new_page()
    browser_login(page, "reviewer", demo["reviewer"])
    from labeling.models import Item

    waiting = Item.objects.filter(status=Item.Status.REVIEW).select_related("project").order_by("id").first()
    assert waiting is not None, "the demo seeds items in review"
    page.click(f"a[href='/projects/{waiting.project.slug}/review/']")
    page.wait_for_selector("[data-testid=review-item]")
    assert str(waiting.get_review_reason_display()) in page.inner_text("main")  # each item says why it waits
    page.goto(f"/projects/{VERIFY}/annotators/")
    rows = page.locator("[data-testid=annotator-row]")
    rows.first.wait_for()
    # The careless volunteer is the one with the lowest gold accuracy on the page's own table.
    row = page.locator(f"[data-testid=annotator-row][data-user={CARELESS}]")
    row.locator("input[name=reason]").fill("random answers on gold")
    row.locator("[data-testid=block]").click()
    page.locator(f"[data-testid=annotator-row][data-user={CARELESS}] [data-testid=unblock]").wait_for()
    score = AnnotatorScore.objects.get(project__slug=VERIFY, user__username=CARELESS)
    assert score.status == AnnotatorScore.Status.BLOCKED and score.status_locked


@pytest.mark.usefixtures("no_worker")  # the test runs the label-error job itself
def test_researcher_builds_a_version_and_starts_a_training_run(new_page, demo):
    page = new_page()
    browser_login(page, "researcher", demo["researcher"])
    page.goto(f"/projects/{CLASSIFY}/datasets/")
    page.wait_for_selector("[data-testid=version-form]")
    existing = DatasetVersion.objects.filter(project__slug=CLASSIFY).count()
    page.fill("[data-testid=version-form] input[name=name]", "from the browser")
    page.click("[data-testid=version-form] button[type=submit]")
    version = wait_for(lambda: DatasetVersion.objects.filter(project__slug=CLASSIFY, name="from the browser").first())
    assert DatasetVersion.objects.filter(project__slug=CLASSIFY).count() == existing + 1
    page.goto(f"/training/versions/{version.pk}/start/")
    page.wait_for_selector("[data-testid=start-form]")
    page.fill("[data-testid=start-form] input[name=epochs]", "1")
    # Changing the architecture refills its defaults, but never a value the researcher typed.
    batch_before = page.input_value("[data-testid=start-form] input[name=batch_size]")
    page.select_option("[data-testid=start-form] select[name=architecture]", "resnet18")
    assert page.input_value("[data-testid=start-form] input[name=epochs]") == "1"
    assert page.input_value("[data-testid=start-form] input[name=batch_size]") != batch_before
    page.select_option("[data-testid=start-form] select[name=architecture]", "small_cnn")
    assert page.input_value("[data-testid=start-form] input[name=epochs]") == "1"
    page.click("[data-testid=start-form] button[type=submit]")
    page.wait_for_url(lambda url: "/training/runs/" in url)
    from training.models import TrainingRun

    run = TrainingRun.objects.get(version=version)
    assert run.config["epochs"] == 1
    assert page.locator("[data-testid=run-status]").count() == 1
    page.locator("#loss-chart[data-empty='1']").wait_for(state="attached")  # no epoch yet: a message, no axis

    # The label-error page: started from model tools, followed by the job page, listing suspects once done.
    from training.models import ModelJob
    from training.services.jobs import model_job_execute

    page.goto(f"/projects/{CLASSIFY}/model/")
    page.click("[data-testid=start-label-errors]")
    page.wait_for_url(lambda url: "/model/jobs/" in url)
    job = ModelJob.objects.get(kind=ModelJob.Kind.LABEL_ERRORS)
    assert job.version == version
    model_job_execute(job_id=job.pk)  # what the gpu worker runs (no worker in this test)
    page.wait_for_selector("[data-testid=suspects]")  # the page reloads itself when the job's state changes
    assert "suspects of" in page.inner_text("[data-testid=job-result]")


def test_admin_grants_a_staff_role(new_page, demo):
    from django.contrib.auth import get_user_model

    page = new_page()
    browser_login(page, "admin", demo["admin"])
    page.goto("/admin/auth/user/?q=volunteer2")
    page.locator("input[name=_selected_action]").first.check()
    page.select_option("select[name=action]", "grant_operator")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist .success")
    user = get_user_model().objects.get(username="volunteer2")
    assert user.is_staff and user.groups.filter(name="staff-operator").exists()
    # The operator's home page names the role and points to the admin.
    other = new_page()
    browser_login(other, "volunteer2", demo["volunteer2"])
    other.goto("/")
    assert "staff operator" in other.inner_text("[data-testid=roles]")
    assert other.locator("[data-testid=next-staff] a[href='/admin/']").count() == 1
