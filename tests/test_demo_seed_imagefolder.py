"""`manage.py demo --seed-only --images DIR` (`make demo DEMO_IMAGES=DIR`), on an empty database: apart from
tests/test_demo_seed.py, whose module shares one default seed between its tests."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from annotate.demo.seed import BOXES, CLASSIFY
from labeling.models import Annotation, Item, Project

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_seed_from_an_imagefolder(tmp_path, settings):
    """`make demo DEMO_IMAGES=DIR`: the user's folders are the classes; a folder with one class is refused."""
    import numpy as np
    from PIL import Image as PILImage

    settings.VAR_DIR = tmp_path
    settings.MEDIA_ROOT = tmp_path / "media"
    folder = tmp_path / "mine"
    for k, name in enumerate(["cat", "dog"]):
        (folder / name).mkdir(parents=True)
        for i in range(6):
            pixels = np.random.default_rng(10 * k + i).integers(0, 256, (40, 40, 3), dtype=np.uint8)
            PILImage.fromarray(pixels).save(folder / name / f"{i}.png")
    from django.core.management.base import CommandError

    (tmp_path / "one" / "cat").mkdir(parents=True)
    with pytest.raises(CommandError, match="at least two class folders"):
        call_command("demo", "--seed-only", "--images", str(tmp_path / "one"), "--no-train")
    call_command("demo", "--seed-only", "--images", str(folder), "--no-train")
    classify = Project.objects.get(slug=CLASSIFY)
    assert sorted(classify.categories.values_list("name", flat=True)) == ["cat", "dog"]
    assert Annotation.objects.filter(item__project=classify).count() > 0
    assert Item.objects.filter(project__slug=BOXES).count() == 12
