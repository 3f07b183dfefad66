"""Category input a newcomer gets wrong (issue 24): a misspelt parent is an error, not a new category; a WordNet
id must look like one. Checked at every entry: project creation, the category file import, edits."""

from __future__ import annotations

import pytest

from annotate.exceptions import ServiceError
from labeling.models import Category
from labeling.services.categories import categories_import, category_update
from labeling.services.project_settings import categories_parse
from labeling.services.projects import project_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """A test client request in another language leaves that language active in the thread (LocaleMiddleware)."""
    from django.utils import translation

    with translation.override("en"):
        yield


def test_project_creation_refuses_an_unknown_parent_and_creates_nothing():
    specs = categories_parse("name,definition,wnid,parent\negret,a heron,,heorn\nheron,,,\n")
    with pytest.raises(ServiceError, match="'heorn' of 'egret' is not a category") as err:
        project_create(slug="birds", task_type="classify", categories=specs)
    assert err.value.code == "unknown_parent"
    assert not Category.objects.exists()
    ok = project_create(
        slug="birds",
        task_type="classify",
        categories=categories_parse("name,definition,wnid,parent\negret,a heron,,heron\nheron,,,\n"),
    )  # a parent may come after its child
    assert ok.categories.get(name="egret").parent.name == "heron"


def test_file_import_reports_unknown_parents_and_keeps_the_rest():
    project = project_create(slug="birds", task_type="classify", categories=[{"name": "heron"}])
    data = b"name,definition,wnid,parent\negret,,,heorn\nbittern,,,heron\nstork,,,ciconiid\nciconiid,,,\n"
    result = categories_import(project=project, data=data, filename="c.csv")
    assert result.errors == ["Row 1: The parent 'heorn' of 'egret' is not a category: add it first, or fix its "
                             "spelling."]  # fmt: skip
    assert set(project.categories.values_list("name", flat=True)) == {"heron", "bittern", "stork", "ciconiid"}
    assert project.categories.get(name="stork").parent.name == "ciconiid"


@pytest.mark.parametrize("wnid", ["xyz", "n123", "02084071", "n020840710"])
def test_invalid_wordnet_ids_are_refused_everywhere(wnid):
    with pytest.raises(ServiceError, match="is not a WordNet id"):
        project_create(slug="dogs", task_type="verify", categories=[{"name": "dog", "wnid": wnid}])
    project = project_create(slug="dogs", task_type="verify", categories=[{"name": "dog", "wnid": " n02084071 "}])
    dog = project.categories.get()
    assert dog.wnid == "n02084071"
    result = categories_import(project=project, data=f"name,wnid\ncat,{wnid}\n".encode(), filename="c.csv")
    assert len(result.errors) == 1 and "is not a WordNet id" in result.errors[0]
    with pytest.raises(ServiceError, match="is not a WordNet id"):
        category_update(category=dog, name="dog", wnid=wnid)
    dog.refresh_from_db()
    assert dog.wnid == "n02084071"
