"""Issue 25, homoglyph usernames: a new name whose look-alike key equals an existing user's is refused at sign-up
(one-script names passed the mixed-script rule: "paypa1" next to "paypal", "AIice" next to "alice")."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client


def _sign_up(username: str):
    password = "a-Long-pass-42"
    form = {"username": username, "email": "n@example.org", "password1": password, "password2": password}
    return Client().post("/accounts/signup/", form)


PAIRS = [("paypal", "paypa1"), ("alice", "AIice"), ("alice", "ɑlice"), ("bob", "b0b"), ("Ian", "lan"),
         ("li_wei", "Ii_wei")]  # fmt: skip


@pytest.mark.parametrize(("existing", "look_alike"), PAIRS)
def test_a_name_that_looks_like_an_existing_one_is_refused(db, make_user, existing, look_alike):
    make_user(existing)
    response = _sign_up(look_alike)
    assert response.status_code == 200, "the form is shown again with the reason"
    assert "looks like the name of an existing account" in response.content.decode()
    assert not get_user_model().objects.filter(username=look_alike).exists()


@pytest.mark.parametrize("name", ["paypal2", "alice", "bobby", "小明"])
def test_names_that_only_resemble_in_part_are_welcome(db, make_user, name):
    make_user("paypal")
    make_user("alicia")
    assert _sign_up(name).status_code == 302
    assert get_user_model().objects.filter(username=name).exists()


def test_the_refusal_is_translated(db, make_user):
    make_user("paypal")
    response = Client(headers={"accept-language": "zh-hans"}).post(
        "/accounts/signup/",
        {"username": "paypa1", "email": "n@example.org", "password1": "a-Long-pass-42", "password2": "a-Long-pass-42"},
    )
    assert response.status_code == 200 and "已有账户" in response.content.decode()


def test_the_look_alike_key():
    from annotate.usernames import look_alike_key

    assert look_alike_key("AIice") == look_alike_key("alice") == look_alike_key("аlice")
    assert look_alike_key("user1") != look_alike_key("user2")
