"""The admin's model names read as English: no "Categorys", "Ingest batchs" or "Ingest entrys"."""

from __future__ import annotations

import re

from django.apps import apps

BAD_PLURAL = re.compile(r"([^aeiou]ys|[^o]chs|shs|xs|ss)$")  # "epochs" is right


def test_every_model_of_ours_has_an_english_plural():
    wrong = {
        m.__name__: str(m._meta.verbose_name_plural)
        for app in ("labeling", "training", "annotate", "crowdpay")
        for m in apps.get_app_config(app).get_models()
        if BAD_PLURAL.search(str(m._meta.verbose_name_plural))
    }
    assert wrong == {}


def test_admin_index_shows_the_fixed_plurals(admin_client):
    body = admin_client.get("/admin/").content.decode()
    assert "Categories" in body and "Ingest batches" in body
    assert "Categorys" not in body and "Ingest batchs" not in body and "Ingest entrys" not in body
