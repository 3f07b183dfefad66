"""dataset_version_create: labelling rules, filters, split grouping, immutability, stats and card."""

import pytest

from annotate.exceptions import ServiceError
from labeling.models import DatasetVersion, Item
from labeling.services.datasets import annotator_pseudonym, dataset_version_create
from tests.labeling.datasets import factories as f

pytestmark = pytest.mark.django_db


def _rows(version):
    return list(version.rows.order_by("image_id").values_list("image_id", "label_name", "split", "posterior", "votes"))


def test_classify_version_rows_stats_and_card(classify_project, researcher, voters):
    v = dataset_version_create(project=classify_project, created_by=researcher, seed=1)
    assert v.number == 1 and v.items_count == 24
    assert [c["name"] for c in v.classes] == ["cat", "dog", "<script>alert(1)</script>"]
    assert v.stats["per_class"]["cat"]["total"] == 10
    assert v.stats["labels_per_item"] == pytest.approx(3.0)
    assert v.stats["mean_posterior"] == pytest.approx(0.9)
    assert v.stats["estimated_label_noise"] == pytest.approx(0.1)
    row = v.rows.filter(label_name="dog").first()
    assert row.votes == {"dog": 3}
    assert row.soft_label["dog"] == pytest.approx(0.9)
    assert set(row.annotators) == {annotator_pseudonym(project_id=classify_project.id, user_id=u.id) for u in voters}
    assert not any(u.username in str(row.annotators) for u in voters)
    assert row.source_uri.startswith("https://example.org/") and row.license == "CC-BY-4.0"
    assert "<script>" not in v.card and "&lt;script&gt;" in v.card and "<img" not in v.card
    assert "Known limitations" in v.card and "CC-BY-4.0" in v.card
    assert len(v.content_hash) == 64
    v2 = dataset_version_create(project=classify_project, seed=1)
    assert v2.number == 2 and v2.content_hash == v.content_hash


def test_version_unchanged_after_new_votes(classify_project, voters, make_user):
    v = dataset_version_create(project=classify_project)
    before_rows, before_hash = _rows(v), v.content_hash
    late = make_user("late")
    dog = f.cat(classify_project, "dog")
    changed = list(Item.objects.filter(project=classify_project).exclude(label=dog.id)[:5])
    for it in changed:
        f.vote(it, late, dog.id)
        Item.objects.filter(pk=it.pk).update(label=dog.id, confidence=0.6)
    v.refresh_from_db()
    assert _rows(v) == before_rows and v.content_hash == before_hash
    assert v.stats["per_class"]["dog"]["total"] == 8
    with pytest.raises(ValueError, match="immutable"):
        v.save()
    v_new = dataset_version_create(project=classify_project)
    assert v_new.content_hash != before_hash
    assert v_new.stats["per_class"]["dog"]["total"] == 13


def test_verify_label_is_highest_posterior_yes(researcher, voters):
    p = f.project(researcher, slug="ver", task_type="verify", classes=("cat", "dog", "cow"))
    cat, dog, cow = (f.cat(p, n) for n in ("cat", "dog", "cow"))
    img = f.image(1)
    f.source(p, img, category=cat)
    f.item(p, img, category=cat, label=1, posterior=[0.2, 0.8], votes=[(voters[0], 1), (voters[1], 0)])
    f.item(p, img, category=dog, label=1, posterior=[0.05, 0.95], votes=[(voters[0], 1)])
    f.item(p, img, category=cow, label=0, posterior=[0.9, 0.1], votes=[(voters[2], 0)])
    no_img = f.image(2)
    f.item(p, no_img, category=cat, label=0, posterior=[0.99, 0.01])
    open_img = f.image(3)
    f.item(p, open_img, category=cat, label=1, posterior=[0.1, 0.9], status="open")
    v = dataset_version_create(project=p)
    assert v.items_count == 1
    row = v.rows.get()
    assert row.label_name == "dog" and row.posterior == pytest.approx(0.95)
    assert row.votes == {"cat": {"yes": 1, "no": 1}, "dog": {"yes": 1, "no": 0}, "cow": {"yes": 0, "no": 1}}
    assert row.soft_label == {"cat": 0.8, "dog": 0.95, "cow": 0.1}
    assert [c["name"] for c in v.classes] == ["dog"]
    # min_posterior above dog's: the image falls back to nothing (cat 0.8 also too low)
    assert dataset_version_create(project=p, min_posterior=0.96).items_count == 0
    assert dataset_version_create(project=p, min_posterior=0.8).items_count == 1
    assert dataset_version_create(project=p, categories=[cat.id]).rows.get().label_name == "cat"


def test_filters_accepted_only_and_gold(researcher, voters):
    p = f.project(researcher, slug="flt", classes=("a", "b"))
    a = f.cat(p, "a")
    f.item(p, f.image(1), label=a.id, confidence=0.9, status="accepted")
    f.item(p, f.image(2), label=a.id, confidence=0.9, status="done")
    f.item(p, f.image(3), label=a.id, confidence=0.9, status="done", is_gold=True)
    f.item(p, f.image(4), label=a.id, confidence=0.9, status="rejected")
    f.item(p, f.image(5), label=-1, confidence=0.9, status="done")
    f.item(p, f.image(6), label=a.id, confidence=0.9, status="open", is_gold=True)  # imported gold stays open
    # Gold carries a known answer, so with "Include gold items" on it enters a version whatever its review status:
    # it counts as accepted by definition, also under accepted_only (issue 22, finding 12: open gold was left out).
    # Rejected items (gold or not) and items without a label never enter.
    assert dataset_version_create(project=p).items_count == 4  # accepted + done + 2 gold
    assert dataset_version_create(project=p, accepted_only=True).items_count == 3  # accepted + 2 gold
    only = dataset_version_create(project=p, accepted_only=True, include_gold=False)
    assert only.items_count == 1  # the reviewed item alone
    v = dataset_version_create(project=p, include_gold=False)
    assert v.items_count == 2 and v.filters["include_gold"] is False


def test_near_duplicate_clusters_in_one_split(researcher):
    p = f.project(researcher, slug="dup", classes=("a", "b"))
    a, b = f.cat(p, "a"), f.cat(p, "b")
    clusters = []
    for i in range(40):
        canon = f.image(1000 + i)
        f.source(p, canon)
        f.item(p, canon, label=(a if i % 2 else b).id, confidence=0.9)
        dups = [f.image(5000 + 10 * i + j, canonical=canon) for j in range(2)]
        for d in dups:
            f.source(p, d)
        clusters.append([canon.id] + [d.id for d in dups])
    excluded = dataset_version_create(project=p, seed=4)
    assert excluded.items_count == 40
    v = dataset_version_create(project=p, seed=4, exclude_near_duplicates=False)
    assert v.items_count == 120
    split_of = dict(v.rows.values_list("image_id", "split"))
    for members in clusters:
        assert len({split_of[m] for m in members}) == 1
    assert v.stats["near_duplicate_clusters_with_several_images"] == 40
    assert len(set(split_of.values())) == 3
    other = dataset_version_create(project=p, seed=5, exclude_near_duplicates=False)
    assert dict(other.rows.values_list("image_id", "split")) != split_of


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"split": (0.5, 0.6, 0.1)}, "invalid_split"),
        ({"min_posterior": 1.5}, "invalid_min_posterior"),
        ({"categories": [999999]}, "invalid_categories"),
        ({"seed": 2**40}, "invalid_seed"),
    ],
)
def test_invalid_input(classify_project, kwargs, code):
    with pytest.raises(ServiceError) as exc:
        dataset_version_create(project=classify_project, **kwargs)
    assert exc.value.code == code
    assert not DatasetVersion.objects.exists()
