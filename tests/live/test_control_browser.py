"""Headless Chromium, two browser contexts (two profiles), against the demo
served with an SQLite store: the "your sessions" page lists both, and "sign
out everywhere else" (a POST button) logs the other one out."""

import sys

import pytest
from test_browser import Server, chromium, click, field

from helpers import SECRET
from servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_sign_out_everywhere_else_in_two_browsers(tmp_path):
    port = free_port()
    command = [
        sys.executable, "-m", "sessionware", "demo", "--port", str(port),
        "--secret-key", SECRET, "--store", f"sqlite:///{tmp_path}/demo.db",
    ]  # fmt: skip
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    base = f"http://127.0.0.1:{port}"
    with (
        Server(command, port, tmp_path / "demo.log"),
        chromium(tmp_path / "a") as first,
        chromium(tmp_path / "b") as second,
    ):
        from selenium.webdriver.common.by import By

        for driver in (first, second):
            driver.get(base + "/login?user=alice")
            assert field(driver, "message") == "signed in as alice"
            assert field(driver, "owner") == "alice"
        second_sid = field(second, "sid")

        click(first, 'a[href="/sessions"]')
        rows = first.find_elements(By.CSS_SELECTOR, "#sessions tr.session")
        assert len(rows) == 2
        assert [row.text.endswith("this one") for row in rows].count(True) == 1
        listed = {row.text.split("…")[0] for row in rows}
        assert second_sid[:6] in listed and field(first, "sid")[:6] in listed

        click(first, "#sign-out-others")  # a POST form
        assert field(first, "message") == "signed out 1 other session(s)"
        assert len(first.find_elements(By.CSS_SELECTOR, "#sessions tr.session")) == 1

        second.get(base + "/sessions")
        assert field(second, "owner") == "None" and field(second, "new") == "True"
        assert "Not signed in" in field(second, "sessions-note")
        first.get(base + "/")
        assert field(first, "owner") == "alice" and field(first, "new") == "False"
