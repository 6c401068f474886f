"""The demo page in a real headless Chromium: it renders as designed (styles
applied, panels laid out, no horizontal scrolling on a phone), logs nothing
to the console, keeps the session cookie from JavaScript, and refuses a
cross-site POST. Screenshots are saved in the test's temp dir, or in
``$SESSIONWARE_SCREENSHOTS`` when that is set."""

import json
import os
import shutil

import pytest
from test_browser import chromium, click, field

from gunicorn_server import OtherSite, demo_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def console_errors(driver):
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver, tmp_path, name):
    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a real, drawn page
    keep = os.environ.get("SESSIONWARE_SCREENSHOTS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copy(path, keep)
    return path


def layout(driver):
    return driver.execute_script(
        """
        const style = (selector, name) =>
            getComputedStyle(document.querySelector(selector))[name];
        return {
            header: style("header", "backgroundImage"),
            font: style("body", "fontFamily"),
            grid: style("main", "display"),
            widths: [...document.querySelectorAll("main > section")].map(
                s => s.getBoundingClientRect().width),
            overflow: document.documentElement.scrollWidth
                - document.documentElement.clientWidth,
            buttons: [...document.querySelectorAll("form[method=post] button")].length,
        };
        """
    )


def test_the_demo_page_renders_without_console_errors(tmp_path):
    store = f"sqlite:///{tmp_path}/demo.db"
    with demo_server(tmp_path, "--store", store) as server, chromium(tmp_path) as driver:
        base = f"http://127.0.0.1:{server.port}"
        driver.set_window_size(1280, 1100)
        driver.get(base + "/")
        assert field(driver, "sid") == "none" and field(driver, "js-cookie") == "(nothing)"
        click(driver, "#do-set")
        assert field(driver, "message").startswith("Stored the seed values")
        assert '"city": "wuhan"' in field(driver, "data")
        assert int(field(driver, "cookie-size")) < 4093
        assert field(driver, "record-size").endswith("bytes")
        # The HttpOnly session cookie is held but hidden from JavaScript.
        assert driver.get_cookie("session")["httpOnly"] is True
        assert field(driver, "js-cookie") == "(nothing)"

        wide = layout(driver)
        assert "linear-gradient" in wide["header"]
        assert "Times" not in wide["font"] and wide["grid"] == "grid"
        assert len(wide["widths"]) == 4 and min(wide["widths"]) > 300
        assert wide["overflow"] <= 0 and wide["buttons"] == 10
        screenshot(driver, tmp_path, "demo-desktop")

        driver.set_window_size(400, 900)  # a phone: one column, nothing cut off
        driver.refresh()
        narrow = layout(driver)
        assert narrow["overflow"] <= 0, narrow
        screenshot(driver, tmp_path, "demo-phone")

        click(driver, 'a[href="/check"]')
        assert field(driver, "check") == "username is set: admin"
        click(driver, "#do-logout")
        assert field(driver, "sid") == "none" and field(driver, "keys") == "0"
        assert driver.get_cookie("session") is None
        assert console_errors(driver) == []


def test_a_cross_site_form_post_is_refused(tmp_path):
    """A page on another site (localhost vs 127.0.0.1) posts a form to the
    demo's /logout: Chromium sends its Origin, and the demo answers 403."""
    with (
        demo_server(tmp_path, "--cookie-samesite", "None", "--cookie-secure") as a,
        OtherSite(tmp_path) as site_b,
        chromium(tmp_path) as driver,
    ):
        a_url = f"http://127.0.0.1:{a.port}/"
        attack = site_b.page(
            "attack.html",
            f'<!doctype html><form method="post" action="{a_url}logout">'
            '<button id="go">win a prize</button></form>',
        )
        driver.get(a_url)
        click(driver, "#do-set")
        # SameSite=None: the browser would send this cookie cross-site; the
        # Origin check is what stops the forged POST.
        assert driver.get_cookie("session")["sameSite"] == "None"
        driver.get(attack)
        click(driver, "#go")
        assert "cross-site POST refused" in driver.page_source
        driver.get(a_url)
        assert field(driver, "keys") == "5" and field(driver, "new") == "False"


#: Markup that runs script if it ever reaches the page as markup.
HOSTILE = [
    '<svg onload="window.__ran = 1">',
    '"><img src=x onerror="window.__ran = 2">',
    "</pre><script>window.__ran = 3</script>",
]


def test_no_script_from_a_session_runs(tmp_path):
    """An owner, keys and values holding markup, typed into the demo's own
    forms: every page shows them as text and runs none of it."""
    from selenium.webdriver.common.by import By

    def fill(form, name, text):
        element = driver.find_element(By.CSS_SELECTOR, f'form[action="{form}"] [name="{name}"]')
        element.clear()
        element.send_keys(text)

    with (
        demo_server(tmp_path, "--store", f"sqlite:///{tmp_path}/demo.db") as server,
        chromium(tmp_path) as driver,
    ):
        driver.get(server.url + "/sessions")
        fill("/login", "user", HOSTILE[0])
        click(driver, "#do-login")
        driver.get(server.url + "/")
        for text in HOSTILE:
            fill("/put", "key", text)
            fill("/put", "value", text)
            click(driver, "#do-put")
        for path in ("/", "/check", "/sessions"):
            driver.get(server.url + path)
            assert driver.execute_script("return window.__ran") is None, path
            assert field(driver, "owner") == HOSTILE[0]
            assert not driver.find_elements(By.CSS_SELECTOR, "main svg, main img, main iframe")
        assert field(driver, "signed-in-as") == HOSTILE[0]
        driver.get(server.url + "/")
        data = json.loads(field(driver, "data"))
        assert all(data[text] == text for text in HOSTILE)
        assert console_errors(driver) == []


def cards_touching(driver, gap=6):
    """Pairs of POST forms (the demo's cards and buttons) closer than ``gap`` px."""
    return driver.execute_script(
        """
        const gap = arguments[0];
        const boxes = [...document.querySelectorAll("form[method=post]")].map(form => {
            const r = form.getBoundingClientRect();
            return {id: form.querySelector("button").id, r};
        });
        const close = [];
        for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
            const a = boxes[i].r, b = boxes[j].r;
            const apart = a.right + gap <= b.left || b.right + gap <= a.left
                || a.bottom + gap <= b.top || b.bottom + gap <= a.top;
            if (!apart) close.push([boxes[i].id, boxes[j].id]);
        }
        return close;
        """,
        gap,
    )


def test_no_button_touches_another_card(tmp_path):
    """Every page, signed in on a server-side store (every button shown),
    wide and narrow: no two forms touch."""
    with (
        demo_server(tmp_path, "--store", f"sqlite:///{tmp_path}/demo.db") as server,
        chromium(tmp_path) as driver,
    ):
        driver.get(server.url + "/sessions")
        click(driver, "#do-login")
        assert field(driver, "signed-in-as") == "alice"
        for width in (1280, 400):
            driver.set_window_size(width, 1000)
            for path in ("/", "/check", "/sessions"):
                driver.get(server.url + path)
                assert cards_touching(driver) == [], (width, path)
