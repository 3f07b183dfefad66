"""Agreement statistics on a hand-computed case, through stored votes."""

from __future__ import annotations

import pytest

from labeling.selectors.quality import quality_stats
from tests.labeling.quality.qfactories import cast, join, make_project

pytestmark = pytest.mark.django_db


def test_fleiss_kappa_vote_distribution_and_budget(make_user, client):
    # min_votes 3, target 0.99: with the prior model (0.7), three agreeing votes give 0.927, so every item stays
    # open and the forecast is positive.
    project, items = make_project(slug="kappa", n_items=4, min_votes=3, max_votes=9, target=0.99)
    voters = [make_user(f"v{i}") for i in range(3)]
    join(project, [make_user("spare")])  # someone who could still answer: the items stay open (finding 14)
    table = [(0, 0, 0), (1, 1, 1), (1, 1, 1), (0, 1, 1)]
    for item, labels in zip(items, table, strict=True):
        for user, label in zip(voters, labels, strict=True):
            cast(user, item, label)
    stats = quality_stats(project=project)
    overall = stats["overall"]
    # P_i = 1, 1, 1, 1/3 -> P = 5/6; p = (1/3, 2/3) -> P_e = 5/9; kappa = (5/6 - 5/9) / (4/9) = 0.625
    assert overall.fleiss_kappa == pytest.approx(0.625, abs=1e-4)
    assert overall.vote_distribution == {"no": 4, "yes": 8}
    assert overall.votes == 12 and overall.items == 4
    assert overall.status_counts == {"open": 4}
    assert overall.budget_forecast >= 4  # at least one more vote for each of the four items
    assert len(stats["categories"]) == 1 and stats["categories"][0].fleiss_kappa == overall.fleiss_kappa
    owner = make_user("own", role="researcher")
    project.owners.add(owner)
    client.force_login(owner)
    page = client.get(f"/projects/{project.slug}/quality/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "0.625" in html and "<svg" in html and "style=" not in html and "<script>" not in html


def test_a_large_project_reads_a_fixed_sample_scaled_to_the_project(
    make_user, settings, client, django_assert_max_num_queries
):
    """Above QUALITY_STATS_SAMPLE_ITEMS the statistics come from a hash-chosen sample of about that many items
    (issue 26: the page read every item and vote of a million-item project): counts are scaled back to the
    project, kappa is the sample's, the page and the API say it is a sample, and the statements do not grow."""
    from labeling.models import Annotation, Item

    project, items = make_project(slug="sampled", n_items=240, min_votes=3, max_votes=9, target=0.99)
    voters = [make_user(f"s{i}") for i in range(3)]
    # Every item the same votes (1, 1, 0): the statistics do not depend on which items the hash picks.
    Annotation.objects.bulk_create(
        Annotation(item=item, user=user, label=label, answer={"label": label}, time_spent_ms=2000)
        for item in items
        for user, label in zip(voters, (1, 1, 0), strict=True)
    )
    Item.objects.filter(project=project).update(votes_count=3)
    exact = quality_stats(project=project)
    assert exact["sample"] is None and exact["overall"].items == 240 and exact["overall"].votes == 720

    settings.ANNOTATE = {**settings.ANNOTATE, "QUALITY_STATS_SAMPLE_ITEMS": 80}
    with django_assert_max_num_queries(12):
        stats = quality_stats(project=project)
    sample = stats["sample"]
    assert sample["of"] == 240 and 50 <= sample["items"] <= 110  # about 80 (Knuth's hash of consecutive ids)
    overall = stats["overall"]
    assert overall.items == 240 and overall.votes == 720  # scaled back to the project
    assert overall.vote_distribution == {"no": 240, "yes": 480}
    assert overall.status_counts == {"open": 240}
    assert overall.fleiss_kappa == exact["overall"].fleiss_kappa == pytest.approx(-0.5, abs=1e-4)
    assert stats == quality_stats(project=project)  # the same items on every view
    owner = make_user("own", role="researcher")
    project.owners.add(owner)
    client.force_login(owner)
    page = client.get(f"/projects/{project.slug}/quality/").content.decode()
    assert 'data-testid="quality-sample"' in page and f"sample of {sample['items']} of the project" in page
    api = client.get(f"/api/projects/{project.slug}/quality/").json()
    assert api["sample"] == sample and api["overall"]["items"] == 240


def test_categories_come_a_page_at_a_time_on_the_page_and_the_api(make_user, client, django_assert_max_num_queries):
    """An ImageNet-shaped project has 1,000 categories: 1,000 cards of statistics with two charts each took ~2 s
    to compute and render (issue 26). The page and the API show CATEGORY_PAGE_SIZE categories a page, in id order,
    with the same statements whichever page; a page past the last is the last."""
    from labeling.models import Annotation, Category, Item
    from labeling.selectors.quality import CATEGORY_PAGE_SIZE

    names = tuple(f"c{i:03d}" for i in range(CATEGORY_PAGE_SIZE + 10))
    project, items = make_project(slug="paged", n_items=1, categories=names, min_votes=3, max_votes=9)
    cats = list(Category.objects.filter(project=project).order_by("id"))
    image = items[0].image
    Item.objects.bulk_create(Item(project=project, image=image, category=c, needed_votes=3) for c in cats[1:])
    voter = make_user("pv")
    Annotation.objects.bulk_create(
        Annotation(item=item, user=voter, label=1, answer={"label": 1}, time_spent_ms=2000)
        for item in Item.objects.filter(project=project)
    )
    first = quality_stats(project=project)
    assert first["categories_page"] == {"page": 1, "pages": 2, "of": CATEGORY_PAGE_SIZE + 10}
    assert [g.name for g in first["categories"]] == list(names[:CATEGORY_PAGE_SIZE])
    assert first["overall"].items == CATEGORY_PAGE_SIZE + 10  # the overall card counts every category
    with django_assert_max_num_queries(12):
        last = quality_stats(project=project, page=99)
    assert last["categories_page"]["page"] == 2 and [g.name for g in last["categories"]] == list(names[-10:])

    owner = make_user("pown", role="researcher")
    project.owners.add(owner)
    client.force_login(owner)
    html = client.get(f"/projects/{project.slug}/quality/?page=2").content.decode()
    assert html.count('data-testid="quality-group"') == 1 + 10 and 'data-testid="category-pages"' in html
    assert 'rel="prev"' in html and 'rel="next"' not in html and f"<h2>{names[-1]}</h2>" in html
    assert client.get(f"/projects/{project.slug}/quality/?page=x").status_code == 200  # a bad page: the first
    api = client.get(f"/api/projects/{project.slug}/quality/", {"page": 2}).json()
    assert api["categories_page"] == {"page": 2, "pages": 2, "of": CATEGORY_PAGE_SIZE + 10}
    assert [g["name"] for g in api["categories"]] == list(names[-10:])
    assert client.get(f"/api/projects/{project.slug}/quality/", {"page": "x"}).status_code == 400


def test_the_sample_stays_fixed_and_sized_when_projects_interleave(make_user, settings):
    """The sample is systematic over the project's id range, read by primary key. When other projects' items
    interleave with this one's (three projects ingesting at once), most of those ids belong to the others: the
    statistics then come from the hash sample, still about QUALITY_STATS_SAMPLE_ITEMS items, the same each view."""
    from labeling.models import Annotation, Item
    from tests.labeling.quality.qfactories import real_image

    projects = [make_project(slug=f"mix{i}", n_items=0, min_votes=3, max_votes=9)[0] for i in range(3)]
    category = projects[0].categories.get()
    voter = make_user("mixv")
    for n in range(240):  # ids alternate between the three projects
        image = real_image(9000 + n)
        for p in projects:
            item = Item.objects.create(project=p, image=image, category=p.categories.get(), needed_votes=3)
            if p == projects[0]:
                Annotation.objects.create(item=item, user=voter, label=1, answer={"label": 1}, time_spent_ms=2000)
    settings.ANNOTATE = {**settings.ANNOTATE, "QUALITY_STATS_SAMPLE_ITEMS": 80}
    stats = quality_stats(project=projects[0])
    assert stats["sample"]["of"] == 240 and 50 <= stats["sample"]["items"] <= 110
    assert stats["overall"].items == 240 and stats["overall"].vote_distribution == {"no": 0, "yes": 240}
    assert stats == quality_stats(project=projects[0]) and category.project_id == projects[0].pk
