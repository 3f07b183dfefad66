"""The whole pipeline in headless Chromium, on PostgreSQL and a real Celery worker (issue 8, part 1).

A researcher creates a `verify` project and ingests a zip of generated shapes; three volunteers (separate
browser contexts) answer the verify grids until the quality engine decides every item, one item ending
disputed; a reviewer fixes it (it becomes gold); the researcher creates a dataset version, exports it as
`imagefolder` (loaded back with torchvision), trains a small CNN on it and reads the finished run's metrics.

The answers are designed so the online engine (prior accuracy 0.7 before any snapshot, target 0.9, min = max
= 3 votes) decides: 3 equal votes -> posterior 0.927 -> done; 2 against 1 -> 0.7 -> review at max votes.
"""

from __future__ import annotations

import hashlib
import io
import random
import tarfile
import time
import zipfile
from pathlib import Path

import imagehash
import pytest
from PIL import Image as PILImage

from labeling.models import Annotation, IngestBatch, Item, Project
from tests.conftest import browser_login
from tests.helpers.services import require_postgres
from tests.helpers.shapes import draw_shape, encode

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SLUG = "shapes-e2e"
PER_FOLDER = 8  # circle/ holds 7 circles and 1 square (a wrong candidate); square/ holds 8 squares


@pytest.fixture(autouse=True)
def _setup(settings):
    """Import every view module before the browser's first request, and keep the periodic re-aggregation
    (every QUALITY_REAGGREGATE_EVERY-th annotation id, ids being global in a test session) from refitting
    the annotator models mid-test: the decisions below are the online engine's, with the prior accuracy."""
    from django.urls import resolve

    resolve("/")
    settings.ANNOTATE = {**settings.ANNOTATE, "QUALITY_REAGGREGATE_EVERY": 0}


def wait_for(predicate, timeout: float, what: str, poll: float = 0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def shapes_zip(seed: int = 8) -> tuple[bytes, dict[str, str]]:
    """A zip of real PNGs, circle/ and square/, far apart in pHash (no near-duplicate merging).
    Returns the archive and {sha256 of each file: the shape really drawn}."""
    rng = random.Random(seed)
    plan = [("circle", "circle")] * (PER_FOLDER - 1) + [("circle", "square")] + [("square", "square")] * PER_FOLDER
    hashes: list[imagehash.ImageHash] = []
    truth: dict[str, str] = {}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i, (folder, shape) in enumerate(plan):
            while True:
                img = draw_shape(shape, 40, rng)
                h = imagehash.phash(img)
                if all(h - other > 16 for other in hashes):  # twice the ingest radius (8)
                    break
            hashes.append(h)
            data = encode(img, "png")
            PILImage.open(io.BytesIO(data)).verify()
            truth[hashlib.sha256(data).hexdigest()] = shape
            zf.writestr(f"{folder}/{i:02d}.png", data)
    return buf.getvalue(), truth


def watch_console(page, errors: list[str]) -> None:
    """Collect console errors and uncaught exceptions (CSP refusals among them); the missing favicon is fine."""

    def on_console(m) -> None:
        where = m.location.get("url", "") if m.location else ""
        if m.type == "error" and not where.endswith("/favicon.ico"):
            errors.append(f"{page.url}: {m.text} ({where})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: uncaught {exc}"))


# --- 1. researcher: project, categories, ingest ---------------------------------------------------------------


def create_project(page, reviewer: str) -> Project:
    page.goto("/projects/new/")
    form = page.locator("[data-testid=project-create-form]")
    form.locator("[name=name]").fill("Shapes E2E")
    form.locator("[name=slug]").fill(SLUG)
    form.locator("[name=task_type]").select_option("verify")
    form.locator("[name=instructions]").fill("Select every image that shows the **shape** named above.")
    form.locator("[name=categories]").fill("circle\nsquare")
    form.locator("[name=min_votes]").fill("3")
    form.locator("[name=max_votes]").fill("3")
    form.locator("[name=gold_rate]").fill("0")
    form.locator("[name=visibility]").select_option("public")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/projects/{SLUG}/")
    # settings: the confidence target is not on the create form
    settings_form = page.locator("[data-testid=settings-form]")
    settings_form.locator("[name=settings-confidence_target]").fill("0.9")
    settings_form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/projects/{SLUG}/")
    people = page.locator("[data-testid=people-form]")
    people.locator("[name=people-role]").select_option("reviewers")
    people.locator("[name=people-username]").fill(reviewer)
    people.locator("[name=people-action]").select_option("add")
    people.locator("button[type=submit]").click()
    page.wait_for_url(f"**/projects/{SLUG}/")
    assert "categories: 2" in page.inner_text("[data-testid=project-counts]")

    page.goto(f"/projects/{SLUG}/categories/")
    names = page.locator("[data-testid=categories] tbody tr td:first-child").all_inner_texts()
    assert sorted(names) == ["circle", "square"]

    project = Project.objects.get(slug=SLUG)
    assert (project.task_type, project.min_votes, project.max_votes, project.gold_rate) == ("verify", 3, 3, 0)
    assert project.confidence_target == pytest.approx(0.9)
    assert list(project.reviewers.values_list("username", flat=True)) == [reviewer]
    return project


def ingest_zip(page, archive: Path, n_expected: int) -> IngestBatch:
    page.goto(f"/projects/{SLUG}/ingest/")
    form = page.locator("[data-testid=upload-form]")
    form.locator("input[name=kind][value=archive]").check()
    form.locator("input[name=files]").set_input_files(str(archive))
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/ingest/batches/*/")
    # the page polls the status JSON and reloads itself once the worker has finished the batch
    page.wait_for_selector("#batch[data-finished='1']", timeout=90_000)
    assert page.inner_text("#batch [data-field=status]") == "done"
    assert page.inner_text("#batch [data-field=ingested]") == str(n_expected)
    assert page.inner_text("#batch [data-field=rejected]") == "0"
    assert page.get_attribute("#batch-progress", "value") == str(n_expected)
    batch = IngestBatch.objects.get(project__slug=SLUG)
    assert batch.status == IngestBatch.Status.DONE and batch.ingested == n_expected
    return batch


# --- 2. volunteers: the verify grid --------------------------------------------------------------------------


def label_until_no_work(page, answer_for, *, keyboard: bool) -> list[int]:
    """Answer every grid offered (keyboard: arrows + space, else clicks; Enter / the button submits)."""
    page.goto(f"/projects/{SLUG}/label/")
    seen: list[int] = []
    while True:
        page.wait_for_selector("[data-testid=tile], [data-testid=no-work]")
        if page.locator("[data-testid=no-work]").count():
            return seen
        tiles = page.locator("[data-testid=tile]")
        ids = [int(x) for x in tiles.evaluate_all("ts => ts.map(t => t.dataset.itemId)")]
        want = [answer_for(item_id) for item_id in ids]
        if keyboard:
            page.wait_for_function("() => document.activeElement?.dataset?.testid === 'tile'")
            for yes in want:
                if yes:
                    page.keyboard.press("Space")
                page.keyboard.press("ArrowRight")
        else:
            for i, yes in enumerate(want):
                if yes:
                    tiles.nth(i).click()
        pressed = tiles.evaluate_all("ts => ts.map(t => t.getAttribute('aria-pressed') === 'true' ? 1 : 0)")
        assert pressed == want
        if keyboard:
            page.keyboard.press("Enter")
        else:
            page.click("[data-testid=submit]")
        page.wait_for_function(
            "ids => document.querySelector('[data-testid=no-work]') || [...document.querySelectorAll("
            "'[data-testid=tile]')].some(t => !ids.includes(Number(t.dataset.itemId)))",
            arg=ids,
        )
        seen += ids


# --- 4. researcher: dataset version, export, download ----------------------------------------------------------


def create_version_and_export(page, tmp_path: Path, n_images: int) -> int:
    page.goto(f"/projects/{SLUG}/datasets/")
    form = page.locator("[data-testid=version-form]")
    form.locator("[name=name]").fill("e2e")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/datasets/*/")
    version_pk = int(page.url.rstrip("/").split("/")[-1])
    assert f"{n_images} images · 2 classes" in page.inner_text("main")

    page.click("[data-testid=export-imagefolder]")
    link = page.locator("[data-testid=download-imagefolder]")
    link.wait_for(state="visible", timeout=90_000)
    assert page.get_attribute(".ds-export[data-format=imagefolder]", "data-status") == "done"
    assert page.get_attribute(".ds-export[data-format=imagefolder] progress", "value") == "1"
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == f"{SLUG}-v1-imagefolder.tar"
    tar_path = tmp_path / download.suggested_filename
    download.save_as(tar_path)

    from torchvision.datasets import ImageFolder

    root = tmp_path / "export"
    with tarfile.open(tar_path) as tf:
        tf.extractall(root, filter="data")
    total = 0
    for split in ("train", "val", "test"):
        if (root / split).is_dir():
            ds = ImageFolder(str(root / split))
            assert len(ds.classes) >= 1
            image, target = ds[0]
            assert image.size == (40, 40) and 0 <= target < 2
            total += len(ds)
    assert len(ImageFolder(str(root / "train")).classes) == 2
    assert total == n_images
    return version_pk


# --- 5. researcher: training ----------------------------------------------------------------------------------


def train_and_read_metrics(page, version_pk: int) -> None:
    page.goto(f"/training/versions/{version_pk}/start/")
    form = page.locator("[data-testid=start-form]")
    form.locator("[name=architecture]").select_option("small_cnn")
    form.locator("[name=epochs]").fill("2")
    form.locator("[name=batch_size]").fill("8")
    form.locator("[name=image_size]").fill("32")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/training/runs/*/")
    # the page polls the run's JSON and reloads itself when the run ends; the metrics are rendered then
    page.wait_for_selector("[data-testid=final-metrics]", timeout=150_000)
    assert page.inner_text("[data-testid=run-status]") == "succeeded", page.inner_text("#run-log")
    assert page.inner_text("#run-epochs") == "2"
    assert "Accuracy" in page.inner_text("[data-testid=final-metrics]")
    per_class = page.locator("[data-testid=per-class] tbody tr td:first-child").all_inner_texts()
    assert sorted(per_class) == ["circle", "square"]
    drawn = page.evaluate(
        """() => ['loss-chart', 'acc-chart', 'confusion-chart'].map(id => {
              const c = document.getElementById(id);
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              return d.some((v, i) => i % 4 === 3 && v > 0);
           })"""
    )
    assert drawn == [True, True, True]


def test_researcher_to_trained_model_through_the_browser(new_page, make_user, celery_worker, tmp_path):
    require_postgres()
    started = time.monotonic()
    errors: list[str] = []
    make_user("rita", role="researcher")
    make_user("rex", role="reviewer")
    volunteers = [make_user(f"vol{i}") for i in (1, 2, 3)]

    # 1. project + categories + ingest (a zip upload; the real worker runs the batch)
    archive, truth = shapes_zip()
    zip_path = tmp_path / "shapes.zip"
    zip_path.write_bytes(archive)
    rita = new_page()
    watch_console(rita, errors)
    browser_login(rita, "rita", "pw-rita-123")
    project = create_project(rita, reviewer="rex")
    ingest_zip(rita, zip_path, n_expected=len(truth))
    items = {i.pk: i for i in Item.objects.filter(project=project).select_related("image", "category")}
    assert len(items) == len(truth) == 2 * PER_FOLDER  # one verify item per image, for its folder's category
    correct = {pk: int(truth[i.image.sha256] == i.category.name) for pk, i in items.items()}
    assert sorted(correct.values()).count(0) == 1  # the square in circle/
    disputed = min(pk for pk, i in items.items() if i.category.name == "circle" and correct[pk])

    # 2. three volunteers, one after the other, each in their own browser context
    for n, user in enumerate(volunteers, start=1):
        page = new_page()
        watch_console(page, errors)
        browser_login(page, user.username, f"pw-{user.username}-123")
        answers = dict(correct)
        if n == 3:
            answers[disputed] = 0  # the third volunteer disagrees on one circle
        seen = label_until_no_work(page, answers.__getitem__, keyboard=n == 1)
        assert sorted(seen) == sorted(items)  # every item once, in grids of one category
        wait_for(lambda u=user: Annotation.objects.filter(user=u).count() == len(items), 20, f"{user}'s answers")
        stored = dict(Annotation.objects.filter(user=user).values_list("item_id", "label"))
        assert stored == answers
        statuses = list(Item.objects.filter(project=project).values_list("status", "votes_count"))
        if n < 3:
            assert set(statuses) == {(Item.Status.OPEN, n)}, statuses  # min votes not reached yet

    final = {i.pk: i for i in Item.objects.filter(project=project)}
    assert final[disputed].status == Item.Status.REVIEW and final[disputed].confidence == pytest.approx(0.7, abs=1e-3)
    for pk, item in final.items():
        if pk != disputed:
            assert (item.status, item.label) == (Item.Status.DONE, correct[pk]), (pk, item.status, item.label)
            assert item.confidence == pytest.approx(0.927, abs=1e-3)

    # 3. the reviewer fixes the disputed item from the queue with the keyboard (F, then "1" = the first choice, yes)
    rex = new_page()
    watch_console(rex, errors)
    browser_login(rex, "rex", "pw-rex-123")
    rex.goto(f"/projects/{SLUG}/review/")
    queue = rex.locator("[data-testid=review-item]")
    assert queue.count() == 1 and queue.first.get_attribute("data-item-id") == str(disputed)
    assert "max votes without consensus" in queue.first.inner_text()
    rex.keyboard.press("f")
    rex.keyboard.press("1")
    rex.wait_for_selector("[data-testid=review-empty]")
    assert f"Item {disputed} fixed (now gold)" in rex.inner_text("ul.messages")
    fixed = Item.objects.get(pk=disputed)
    assert (fixed.is_gold, fixed.gold_label, fixed.label, fixed.status) == (True, 1, 1, Item.Status.ACCEPTED)

    # 4. dataset version + imagefolder export (real worker) + download, read back by torchvision
    n_images = sum(correct.values())  # the wrong candidate is labelled "no" and left out
    version_pk = create_version_and_export(rita, tmp_path, n_images)

    # 5. training on the version (real worker, gpu queue; CPU here) and the finished run's metrics
    train_and_read_metrics(rita, version_pk)

    assert errors == [], errors  # no JavaScript error and no CSP refusal on any page
    print(f"\nend-to-end pipeline: {time.monotonic() - started:.0f}s")
