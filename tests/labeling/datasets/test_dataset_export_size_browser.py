"""The export link's size right after an export (issue 24: a small file read "Download (0.0 MB)"): the page's
script formats sizes like the template's filesizeformat, so a fresh link and a reloaded page agree."""

from __future__ import annotations

import pytest
from django.template.defaultfilters import filesizeformat

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SIZES = [0, 512, 1023, 1024, 12_345, 1_048_575, 5 * 1024 * 1024, 3 * 1024**3]


def test_the_script_formats_sizes_like_the_page(new_page):
    page = new_page()
    page.goto("/accounts/login/")
    got = page.evaluate(
        """async (sizes) => {
          const m = await import('/static/labeling/datasets.js');
          return sizes.map((n) => m.fileSize(n));
        }""",
        SIZES,
    )
    assert got[4] == "12.1 KB" and "0.0 MB" not in got
    assert got == [str(filesizeformat(n)).replace("\xa0", " ") for n in SIZES]
