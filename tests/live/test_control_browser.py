"""Headless Chromium, two browser contexts (two profiles), against the demo
served with an SQLite store: the "Your sessions" page lists both, and "Sign
out everywhere else" (a POST button) signs the other one out."""

import pytest
from test_browser import chromium, click, field

from gunicorn_server import demo_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_sign_out_everywhere_else_in_two_browsers(tmp_path):
    from selenium.webdriver.common.by import By

    server = demo_server(tmp_path, "--store", f"sqlite:///{tmp_path}/demo.db")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    base = server.url

    def rows(driver):
        return driver.find_elements(By.CSS_SELECTOR, "#sessions tr.session")

    with (
        server,
        chromium(tmp_path / "a") as first,
        chromium(tmp_path / "b") as second,
    ):
        for driver in (first, second):
            driver.get(base + "/sessions")
            assert "Not signed in" in field(driver, "sessions-note")
            click(driver, "#do-login")  # the name field says alice
            assert field(driver, "signed-in-as") == "alice"
            assert field(driver, "owner") == "alice"
        second_sid = field(second, "sid")

        first.get(base + "/sessions")
        listed = rows(first)
        assert len(listed) == 2
        assert [row.text.endswith("this browser") for row in listed].count(True) == 1
        shown = {row.text.split("…")[0] for row in listed}
        assert shown == {second_sid[:6], field(first, "sid")[:6]}

        click(first, "#do-sign-out-others")  # a POST form
        assert "Signed out everywhere else" in field(first, "message")
        assert len(rows(first)) == 1

        second.get(base + "/sessions")
        assert "Not signed in" in field(second, "sessions-note")
        assert field(second, "owner") == "None" and field(second, "new") == "True"
        first.get(base + "/")
        assert field(first, "owner") == "alice" and field(first, "new") == "False"
