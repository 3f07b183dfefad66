"""create_project and simulate_crowd, through call_command, with their --json last lines."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from labeling.models import Annotation, Item, Project
from tests.helpers.factories import make_project_with_items

pytestmark = pytest.mark.django_db


def run(*args: str) -> dict:
    out = io.StringIO()
    call_command(*args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_create_project_from_csv_and_plain_lists(tmp_path):
    csv_file = tmp_path / "cats.csv"
    csv_file.write_text(
        "name,definition,wnid,parent\nanimal,,,\nowl,A night bird,n01621127,animal\ncat,A feline,,animal\n"
    )
    summary = run("create_project", "zoo", "--type", "verify", "--categories", str(csv_file), "--votes", "5")
    project = Project.objects.get(slug="zoo")
    assert summary == {"project": "zoo", "id": project.id, "categories": 3, "task_type": "verify"}
    assert project.min_votes == 5
    owl = project.categories.get(name="owl")
    assert (owl.definition, owl.wnid, owl.parent.name) == ("A night bird", "n01621127", "animal")
    names = tmp_path / "names.txt"
    names.write_text("red\ngreen\n\nblue\n")
    summary = run("create_project", "colours", "--type", "classify", "--categories", str(names))
    assert summary["categories"] == 3
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_project", "zoo", "--type", "verify", stdout=io.StringIO())
    with pytest.raises(CommandError, match="not found"):
        call_command("create_project", "x", "--type", "boxes", "--categories", str(tmp_path / "no.csv"))


@pytest.mark.parametrize("task_type", ["verify", "classify", "boxes"])
def test_simulate_crowd_labels_until_nothing_needs_votes(task_type):
    project, _ = make_project_with_items(slug=f"sim-{task_type}", task_type=task_type, n_items=12,
                                         categories=("owl", "cat"), needed_votes=3, gold=2)  # fmt: skip
    summary = run("simulate_crowd", "--project", project.slug, "--volunteers", "4", "--spammers", "1", "--seed", "3")
    assert summary["volunteers"] == 5
    regular = Item.objects.filter(project=project, is_gold=False)
    assert summary["items_done"] == regular.exclude(status=Item.Status.OPEN).count()
    assert not regular.filter(status=Item.Status.OPEN).exists()
    assert summary["answers"] == Annotation.objects.filter(item__project=project).count() >= 12 * 3


def test_simulate_crowd_uses_truth_file_and_accuracy(tmp_path):
    _, items = make_project_with_items(slug="truthy", n_items=10, categories=("owl", "cat"), needed_votes=3)
    truth = tmp_path / "truth.csv"
    # every image is really an owl: the cat items are "no"
    truth.write_text("image,label\n" + "".join(f"{i.image.sha256},owl\n" for i in items) + "nope,owl\n")
    run("simulate_crowd", "--project", "truthy", "--volunteers", "3", "--accuracy", "1.0", "--truth", str(truth))
    for item in items:
        labels = set(Annotation.objects.filter(item=item).values_list("label", flat=True))
        assert labels == {1 if item.category.name == "owl" else 0}


def test_detection_project_from_the_command_and_a_simulated_crowd(tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("car\ndog\n")
    run("create_project", "coco", "--type", "boxes", "--box-mode", "detect", "--categories", str(names))
    assert Project.objects.get(slug="coco").detects
    with pytest.raises(CommandError, match="Only box projects"):
        call_command("create_project", "nope", "--type", "verify", "--box-mode", "detect")
    project, _ = make_project_with_items(slug="sim-detect", task_type="boxes", box_mode="detect", n_items=6,
                                         categories=("owl", "cat"), needed_votes=3)  # fmt: skip
    run("simulate_crowd", "--project", project.slug, "--volunteers", "4", "--accuracy", "1.0", "--seed", "3")
    ids = set(project.categories.values_list("id", flat=True))
    done = Item.objects.filter(project=project, status=Item.Status.DONE)
    assert done.count() == 6
    for item in done:
        (box,) = item.answer["boxes"]  # the centre box, with the image's candidate category
        assert len(box) == 5 and box[4] in ids
