"""Filter and ordering parameters that try to traverse relations to secrets (CVE-2023-47117 in a peer).

For every API list endpoint of the schema, the hostile parameters below must be ignored (the same
response as without them) or refused with a 400 — never a 5xx, and never a result that depends on a
password hash. Prefixes that match no hash are used, so an applied filter would empty the list, and
orderings are tried in both directions, so an applied ordering would reorder it.
"""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from tests.security import harness

HOSTILE_PARAMS = [
    {"ordering": "owners__password"}, {"ordering": "-owners__password"},
    {"ordering": "owner__password"}, {"ordering": "-annotations__user__password"},
    {"ordering": "user__password"}, {"ordering": "-created_by__password"}, {"ordering": "password"},
    {"ordering": "project__owners__password"}, {"ordering": "-project__owners__password"},
    {"o": "owners__password"}, {"order_by": "-owners__password"}, {"sort": "owners__password"},
    {"owners__password__startswith": "zq"}, {"user__password__startswith": "a"},
    {"project__owners__password": "x"}, {"project__owners__password__startswith": "zq"},
    {"created_by__password__startswith": "zq"}, {"annotations__user__password__startswith": "zq"},
    {"owners__email__startswith": "zq"}, {"user__email__contains": "@nowhere"},
    {"project__owners__is_superuser": "true"}, {"search": "md5$"},
    {"ordering": "owners__password,id"}, {"ordering": "__class__"}, {"ordering": "?"},
    {"limit": "-1"}, {"offset": "-5"}, {"limit": "99999999999999999999"},
]  # fmt: skip


def _normalise(response) -> str:
    try:
        return json.dumps(response.json(), sort_keys=True)
    except ValueError:
        return response.content.decode(errors="replace")


def _list_urls(world) -> list[str]:
    urls = []
    for path, method, op in harness.api_operations():
        if not harness.is_list_operation(path, method, op):
            continue
        url = harness.fill(path, world.a.objects, openapi=True)
        if url is not None:
            urls.append(url)
    return urls


@pytest.mark.parametrize("who", ["researcher", "admin", "volunteer"])
def test_hostile_filters_and_orderings_are_ignored_or_refused(world, who):
    from labeling.models import Project

    # A second project of A's owner, so that an ordering that is applied shows.
    Project.objects.get(pk=world.a.project.pk).owners.add(world.person("researcher_b"))
    client = APIClient()
    client.force_authenticate(world.person(who))
    urls = _list_urls(world)
    assert urls, "no list endpoint in the schema"
    failures, unstable, tried = [], [], 0
    for url in urls:
        first, second = client.get(url), client.get(url)
        if first.status_code >= 500:
            failures.append(f"GET {url} -> {first.status_code} without any parameter")
            continue
        baseline = _normalise(first)
        if baseline != _normalise(second):
            unstable.append(url)  # not comparable (e.g. hands out leases): only "no 5xx" is checked
        for params in HOSTILE_PARAMS:
            tried += 1
            response = client.get(url, params)
            label = f"{who} GET {url}?{'&'.join(f'{k}={v}' for k, v in params.items())}"
            if response.status_code >= 500:
                failures.append(f"{label} -> {response.status_code}")
            elif url in unstable or response.status_code == 400:
                continue
            elif response.status_code != first.status_code or _normalise(response) != baseline:
                failures.append(f"{label} -> {response.status_code}: the result changed with the parameter")
    assert not failures, f"{len(failures)} of {tried} requests:\n" + "\n".join(failures)
