"""Gold import: matching by SHA-256 / source URI / file name, labels per task type, per-entry errors that never
cost the good entries, updates instead of duplicates, and the `import_gold` command around the same service."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotate.exceptions import ServiceError
from labeling.models import Category, ImageSource, Item, Project
from labeling.services.quality import gold_entries_read, gold_import_file
from tests.helpers.factories import make_image_row, make_project_with_items

pytestmark = pytest.mark.django_db


def _csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _gold(project: Project) -> dict[int, int | None]:
    return dict(Item.objects.filter(project=project, is_gold=True).values_list("id", "gold_label"))


def test_verify_gold_matches_sha_uri_and_file_name_and_reports_bad_rows_per_line():
    project, items = make_project_with_items(slug="gv", n_items=6, categories=("owl",))
    a, b, c, d = items[:4]
    data = _csv(
        "image,label",
        f"{a.image.sha256},yes",  # line 2: SHA-256
        "owl/img1.jpg,no",  # line 3: source URI
        "img2.jpg,1",  # line 4: file name
        "nothing-like-this.jpg,yes",  # line 5: unmatched
        f"{d.image.sha256.upper()},maybe",  # line 6: bad label (the SHA-256 matches, any case)
        ",yes",  # line 7: no image
        f"{a.image.sha256},no",  # line 8: the same item twice
    )
    result = gold_import_file(project=project, data=data, filename="gold.csv")
    summary = result.summary()
    assert {k: summary[k] for k in ("entries", "matched", "created", "updated", "unchanged", "unmatched")} == {
        "entries": 7, "matched": 5, "created": 3, "updated": 0, "unchanged": 0, "unmatched": 1,
    }  # fmt: skip
    assert [(e["line"], e["code"]) for e in summary["errors"]] == [
        (5, "image_not_found"), (6, "invalid_label"), (7, "missing_image"), (8, "duplicate_entry"),
    ]  # fmt: skip
    assert "maybe" in summary["errors"][1]["reason"] and summary["errors"][0]["image"] == "nothing-like-this.jpg"
    assert _gold(project) == {a.pk: 1, b.pk: 0, c.pk: 1}
    gold_a = Item.objects.get(pk=a.pk)
    assert (gold_a.label, gold_a.confidence, gold_a.posterior) == (1, 1.0, {"0": 0.0, "1": 1.0})


def test_existing_gold_is_updated_not_duplicated():
    project, items = make_project_with_items(slug="gu", n_items=3, categories=("owl",))
    gold_import_file(project=project, data=_csv("owl/img0.jpg,yes", "owl/img1.jpg,yes"))
    again = gold_import_file(project=project, data=_csv("owl/img0.jpg,no", "owl/img1.jpg,yes", "owl/img2.jpg,no"))
    s = again.summary()
    assert (s["created"], s["updated"], s["unchanged"], s["errors"]) == (1, 1, 1, [])
    assert _gold(project) == {items[0].pk: 0, items[1].pk: 1, items[2].pk: 0}
    assert Item.objects.filter(project=project).count() == 3


def test_classify_labels_are_category_names_or_ids():
    project, items = make_project_with_items(slug="gc", task_type="classify", n_items=4, categories=("cat", "dog"))
    cat, dog = Category.objects.filter(project=project).order_by("id")
    other, _ = make_project_with_items(slug="gc2", task_type="classify", n_items=1, categories=("eel",), seed=9)
    eel = Category.objects.get(project=other)
    data = _csv(
        "image,label",
        f"{items[0].image.sha256},cat",
        f"{items[1].image.sha256},{dog.pk}",
        f"{items[2].image.sha256},DOG",  # names are matched case-insensitively when not exact
        f"{items[3].image.sha256},{eel.pk}",  # another project's category id
    )
    result = gold_import_file(project=project, data=data)
    assert [e["code"] for e in result.summary()["errors"]] == ["invalid_label"]
    assert _gold(project) == {items[0].pk: cat.pk, items[1].pk: dog.pk, items[2].pk: dog.pk}


def test_verify_images_with_several_categories_need_the_category_column():
    project, items = make_project_with_items(slug="gm", n_items=2, categories=("owl", "cat"))
    owl, cat = Category.objects.filter(project=project).order_by("id")
    image = items[0].image  # its item is the owl question; add the cat question on the same image
    second = Item.objects.create(project=project, image=image, category=cat)
    ImageSource.objects.create(project=project, image=image, source_uri="cat/img0.jpg", candidate_category=cat)
    result = gold_import_file(
        project=project,
        data=_csv(f"{image.sha256},yes", f"{image.sha256},no,cat", f"{image.sha256},yes,{owl.pk}", "img0.jpg,no,cat"),
    )
    codes = [e["code"] for e in result.summary()["errors"]]
    assert codes == ["ambiguous_item", "duplicate_entry"]
    assert _gold(project) == {second.pk: 0, items[0].pk: 1}


def test_a_file_name_shared_by_two_images_is_ambiguous_but_the_sha_is_not():
    project, items = make_project_with_items(slug="ga", n_items=2, categories=("owl",))
    ImageSource.objects.filter(image=items[1].image, project=project).update(source_uri="elsewhere/img0.jpg")
    result = gold_import_file(project=project, data=_csv("img0.jpg,yes", f"{items[1].image.sha256},no"))
    assert [e["code"] for e in result.summary()["errors"]] == ["ambiguous_image"]
    assert _gold(project) == {items[1].pk: 0}


def test_a_near_duplicate_names_its_clusters_item():
    project, items = make_project_with_items(slug="gn", n_items=1, categories=("owl",))
    near = make_image_row(seed=777, canonical=items[0].image)
    ImageSource.objects.create(project=project, image=near, source_uri="http://x.test/a/near.jpg?s=1")
    result = gold_import_file(project=project, data=_csv("near.jpg,yes"))
    assert result.summary()["created"] == 1 and _gold(project) == {items[0].pk: 1}


def test_images_of_other_projects_never_match():
    project, _ = make_project_with_items(slug="gx", n_items=1, categories=("owl",))
    _, theirs = make_project_with_items(slug="gy", n_items=1, categories=("owl",), seed=5)
    result = gold_import_file(project=project, data=_csv(f"{theirs[0].image.sha256},yes"))
    assert result.summary()["unmatched"] == 1 and not Item.objects.filter(is_gold=True).exists()


def test_box_gold_from_json_validates_each_entry():
    project, items = make_project_with_items(slug="gb", task_type="boxes", n_items=4, categories=("owl",))
    entries = [
        {"image": items[0].image.sha256, "boxes": [[1, 2, 10, 8]]},
        {"image": items[1].image.sha256, "boxes": []},  # nothing to draw is a valid known answer
        {"image": items[2].image.sha256, "boxes": [[60, 40, 30, 30]]},  # outside the 64x48 image
        {"image": items[3].image.sha256, "label": "yes"},  # a label where boxes are needed
        "not an object",
    ]
    result = gold_import_file(project=project, data=json.dumps(entries).encode(), filename="gold.json")
    s = result.summary()
    assert s["created"] == 2
    assert [(e["line"], e["code"]) for e in s["errors"]] == [(3, "invalid_boxes"), (4, "missing_boxes"),
                                                            (5, "missing_image")]  # fmt: skip
    assert Item.objects.get(pk=items[0].pk).gold_answer == {"boxes": [[1.0, 2.0, 10.0, 8.0]]}
    assert Item.objects.get(pk=items[1].pk).gold_answer == {"boxes": []}


def test_unreadable_files_are_one_clear_error():
    with pytest.raises(ServiceError, match="Invalid JSON"):
        gold_entries_read(data=b"[{", filename="g.json")
    with pytest.raises(ServiceError, match="NUL"):
        gold_entries_read(data=b"a,\x00b")
    with pytest.raises(ServiceError, match="larger than 5 MB"):
        gold_entries_read(data=b"x" * (5 * 1024 * 1024 + 1))


def test_import_gold_command_prints_per_line_errors_and_a_json_summary(tmp_path, capsys):
    project, items = make_project_with_items(slug="gcmd", n_items=3, categories=("owl",))
    path = tmp_path / "gold.csv"
    path.write_bytes(_csv("image,label", "owl/img0.jpg,yes", "owl/img1.jpg,perhaps", "missing.jpg,no"))
    call_command("import_gold", str(path), "--project", project.slug, "--json")
    out, err = capsys.readouterr()
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary == {
        "entries": 3, "matched": 2, "created": 1, "updated": 0, "unchanged": 0, "unmatched": 1,
        "errors": [
            {"line": 3, "image": "owl/img1.jpg", "reason": summary["errors"][0]["reason"], "code": "invalid_label"},
            {"line": 4, "image": "missing.jpg", "reason": summary["errors"][1]["reason"], "code": "image_not_found"},
        ],
    }  # fmt: skip
    assert "line 3 (owl/img1.jpg)" in err and "line 4 (missing.jpg)" in err
    assert _gold(project) == {items[0].pk: 1}
    with pytest.raises(CommandError, match="No project"):
        call_command("import_gold", str(path), "--project", "nope")
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_gold", str(tmp_path / "absent.csv"), "--project", project.slug)


def test_reviewer_fix_still_makes_gold(make_user):
    from labeling.services.quality.review import review_fix

    _, items = make_project_with_items(slug="gfix", n_items=1, categories=("owl",))
    fixed = review_fix(item=items[0], label=1, reviewer=make_user("rv", role="reviewer"))
    assert fixed.is_gold and fixed.gold_label == 1


def test_an_item_without_provenance_still_matches_by_sha():
    project, _ = make_project_with_items(slug="gs", n_items=1, categories=("owl",))
    bare = Item.objects.create(project=project, image=make_image_row(seed=4242), category=project.categories.first())
    result = gold_import_file(project=project, data=_csv(f"{bare.image.sha256},no"))
    assert result.summary()["created"] == 1 and _gold(project) == {bare.pk: 0}
