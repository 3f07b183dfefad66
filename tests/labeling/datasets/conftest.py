import pytest

from tests.labeling.datasets import factories as f


@pytest.fixture
def researcher(make_user):
    return make_user("rita", role="researcher")


@pytest.fixture
def voters(make_user):
    return [make_user(f"vol{i}") for i in range(3)]


@pytest.fixture
def classify_project(researcher, voters):
    """3 classes (one with an XSS name), 10/8/6 images, 3 votes each."""
    p = f.project(researcher, slug="pets", classes=("cat", "dog", "<script>alert(1)</script>"),
                  definitions={"cat": "<img src=x onerror=alert(2)> a feline"})  # fmt: skip
    f.classify_images(p, voters, {"cat": 10, "dog": 8, "<script>alert(1)</script>": 6})
    return p
