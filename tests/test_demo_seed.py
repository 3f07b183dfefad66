"""`manage.py demo --seed-only` gives every role real work: the seeded content, measured through the models and
the services the pages read (the per-role browser walk is tests/test_demo_browser.py)."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command
from django.test import override_settings

from annotate.demo import photos
from annotate.demo.seed import BOXES, CARELESS, CLASSIFY, HONEST, QUALIFICATION, VERIFY
from labeling.models import Annotation, AnnotatorScore, DatasetVersion, Image, ImageSource, Item, ModelOpinion, Project

# The seed (~15 s: photos, a simulated crowd, Dawid-Skene, a trained model) is made once for the module and only
# read by its tests: each runs in a transaction rolled back at its end (what they write, e.g. next_items' leases,
# is undone), and the tables are flushed when the module is done, as a transactional test's teardown does. The
# seed from an image folder needs an empty database: tests/test_demo_seed_imagefolder.py.
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker, tmp_path_factory):
    var = tmp_path_factory.mktemp("demo-seed")
    try:
        with override_settings(VAR_DIR=var, MEDIA_ROOT=var / "media"), django_db_blocker.unblock():
            started = time.monotonic()
            call_command("demo", "--seed-only")
            elapsed = time.monotonic() - started
        yield elapsed
    finally:
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)


def test_demo_seed_gives_every_role_work(seeded):
    from django.contrib.auth import get_user_model

    from labeling.services.assignment import next_items
    from training.models import TrainingRun

    print(f"demo seed: {seeded:.1f} s")
    projects = {p.slug: p for p in Project.objects.all()}
    assert set(projects) == {VERIFY, CLASSIFY, BOXES}
    assert projects[BOXES].task_type == "boxes" and projects[BOXES].box_mode == "detect"
    for project in projects.values():
        assert project.qualification_size == QUALIFICATION
        assert Item.objects.filter(project=project, is_gold=True).count() >= 2
        assert list(project.owners.values_list("username", flat=True)) == ["researcher"]
        assert list(project.reviewers.values_list("username", flat=True)) == ["reviewer"]
        # Work left for the demo's own volunteers: practice first, then open items.
        offered = next_items(user=get_user_model().objects.get(username="volunteer1"), project=project, n=20)
        assert offered, project.slug
        assert Item.objects.filter(project=project, status=Item.Status.OPEN, is_gold=False).count() >= 5

    # A simulated crowd history of a few hundred answers, with a careless volunteer among honest ones.
    answers = Annotation.objects.filter(item__project__slug__in=[VERIFY, CLASSIFY, BOXES])
    assert answers.count() >= 300
    for slug in (VERIFY, CLASSIFY):
        scores = {s.user.username: s for s in AnnotatorScore.objects.filter(project__slug=slug).select_related("user")}
        assert set(scores) >= {*HONEST, CARELESS}
        fred = scores[CARELESS]
        why = list(fred.project.annotator_status_log.filter(user=fred.user).values_list("to_status", "reason"))
        assert fred.status != AnnotatorScore.Status.BLOCKED, (slug, why)  # the reviewer's job, not the rules'
        # The annotator scores page's estimated accuracy (Dawid-Skene, from all votes) singles him out.
        honest = [scores[u].ds_accuracy for u in HONEST]
        assert None not in honest and fred.ds_accuracy is not None
        assert fred.ds_accuracy < min(honest), (fred.ds_accuracy, honest)

    # Items in review, with their reasons.
    reasons = set(Item.objects.filter(status=Item.Status.REVIEW).values_list("review_reason", flat=True))
    assert {Item.ReviewReason.MAX_VOTES, Item.ReviewReason.CURATOR} <= reasons
    assert Item.objects.filter(project__slug__in=[VERIFY, CLASSIFY, BOXES], status=Item.Status.DONE).count() >= 30

    # A dataset version, a trained model and its predictions on the unfinished items.
    version = DatasetVersion.objects.get(project__slug=CLASSIFY)
    assert len(version.classes) == len(photos.PHOTOS)
    run = TrainingRun.objects.get(version=version)
    assert run.status == TrainingRun.Status.SUCCEEDED
    assert ModelOpinion.objects.filter(item__project__slug=CLASSIFY).values("item_id").distinct().count() >= 10


def test_demo_images_near_duplicates_are_exactly_the_planted_copies(seeded):
    """Crops of one photo overlap; the pHash + colour check must merge only the re-encoded/resized copies."""
    merged = Image.objects.filter(canonical__isnull=False)
    assert merged.count() == photos.NEAR_DUPLICATES
    for image in merged:
        copy = ImageSource.objects.get(image=image).source_uri
        originals = set(ImageSource.objects.filter(image=image.canonical).values_list("source_uri", flat=True))
        assert "recompressed" in copy
        assert {o.rsplit("/", 1)[-1] for o in originals} == {copy.rsplit("/", 1)[-1].replace("-recompressed", "")
                                                            .replace(".jpg", ".png")}  # fmt: skip
    # Every other crop of the classify project is its own image.
    classify_images = ImageSource.objects.filter(project__slug=CLASSIFY).values("image")
    assert Image.objects.filter(id__in=classify_images, canonical__isnull=True).count() == 5 * 12
