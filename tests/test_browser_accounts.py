"""Sign-up -> log-out -> log-in -> role-appropriate home page, in real headless Chromium."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_signup_logout_login_shows_volunteer_home(new_page):
    page = new_page()
    page.goto("/accounts/signup/")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=email]", "ada@example.org")
    page.fill("input[name=password1]", "Analytical-Engine-1843")
    page.fill("input[name=password2]", "Analytical-Engine-1843")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=roles]")
    assert "volunteer" in page.inner_text("[data-testid=roles]")
    assert page.locator("[data-testid=next-volunteer]").count() == 1
    assert page.locator("[data-testid=next-researcher]").count() == 0

    page.click("text=Log out")
    page.wait_for_selector("text=Log in")
    page.goto("/accounts/login/")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", "Analytical-Engine-1843")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=whoami]")
    assert page.inner_text("[data-testid=whoami]") == "ada"
    assert page.locator("[data-testid=next-volunteer]").count() == 1


def test_wrong_password_is_refused_with_a_message(new_page, make_user):
    make_user("bob", role="researcher")
    page = new_page()
    page.goto("/accounts/login/")
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    page.wait_for_selector(".errorlist, .errornote, ul.errorlist")
    assert "/accounts/login/" in page.url
