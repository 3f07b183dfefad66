"""HTML pages: list + create form, detail (chart, safe card, exports), diff; and one real-browser run."""

import re

import pytest
from django.test import Client

from labeling.models import DatasetVersion
from labeling.services.datasets import dataset_version_create
from tests.conftest import browser_login
from tests.labeling.datasets import factories as f


@pytest.fixture
def web(researcher):
    c = Client()
    c.force_login(researcher)
    return c


@pytest.mark.django_db
def test_create_version_from_form_and_read_detail(classify_project, web):
    page = web.get("/projects/pets/datasets/")
    assert page.status_code == 200 and b'data-testid="version-form"' in page.content
    bad = web.post("/projects/pets/datasets/", {"train": 0.9, "val": 0.2, "test": 0.1, "seed": 0,
                                                "include_gold": "on"})  # fmt: skip
    assert bad.status_code == 200 and b"must add up to 1" in bad.content and not DatasetVersion.objects.exists()
    res = web.post("/projects/pets/datasets/", {"name": "<b>v</b>", "train": 0.8, "val": 0.1, "test": 0.1, "seed": 1,
                                                "include_gold": "on", "exclude_near_duplicates": "on"})  # fmt: skip
    v = DatasetVersion.objects.get()
    assert res.status_code == 302 and res["Location"] == f"/datasets/{v.pk}/"
    html = web.get(res["Location"]).content.decode()
    assert '<svg class="ds-chart"' in html and html.count('class="ds-bar"') == 3
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html  # the definition, shown as text
    assert "<img" not in html and "<b>v</b>" not in html
    assert not re.search(r"<[^>]*\s(style|on[a-z]+)=", html)  # CSP: no inline styles or handlers
    assert all(not s.strip() for s in re.findall(r"<script[^>]*>(.*?)</script>", html, re.S))
    for fmt in ("imagefolder", "csv", "jsonl", "coco", "webdataset", "raw_votes"):
        assert f'data-testid="export-{fmt}"' in html
    assert "Known limitations" in html and "<table>" in html


@pytest.mark.django_db
def test_diff_page_counts(classify_project, web, voters):
    a = dataset_version_create(project=classify_project)
    dog = f.cat(classify_project, "dog")
    changed = classify_project.items.exclude(label=dog.id).order_by("id")[:2]
    for it in changed:
        type(it).objects.filter(pk=it.pk).update(label=dog.id)
    f.classify_images(classify_project, voters, {"cat": 3}, seed0=500)
    b = dataset_version_create(project=classify_project)
    html = web.get(f"/datasets/{a.pk}/diff/{b.pk}/").content.decode()
    assert re.search(r'data-testid="diff-added">3<', html)
    assert re.search(r'data-testid="diff-removed">0<', html)
    assert re.search(r'data-testid="diff-relabelled">2<', html)


@pytest.mark.browser
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_browser_create_version_and_export_csv(celery_worker, new_page, make_user, voters):
    make_user("bea", role="researcher", password="pw-bea-12345")
    from django.contrib.auth import get_user_model

    bea = get_user_model().objects.get(username="bea")
    p = f.project(bea, slug="web-pets", classes=("cat", "dog"))
    f.classify_images(p, voters, {"cat": 4, "dog": 4})
    page = new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    browser_login(page, "bea", "pw-bea-12345")
    page.goto("/")
    page.click("text=Datasets")
    page.click("text=web-pets")
    page.fill("input[name=seed]", "5")
    page.click("button:has-text('Create version')")
    page.wait_for_selector("[data-testid=class-chart]")
    assert "Known limitations" in page.inner_text("[data-testid=card]")
    page.click("[data-testid=export-csv]")
    link = page.locator("[data-testid=download-csv]")
    link.wait_for(state="visible", timeout=30_000)
    assert page.locator(".ds-export[data-format=csv] .ds-status").inner_text() == "done"
    with page.expect_download() as dl:
        link.click()
    assert dl.value.suggested_filename == "web-pets-v1-csv.csv"
    assert not [e for e in errors if "Content Security Policy" in e]
