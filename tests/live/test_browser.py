"""A real headless Chromium against the demo served by a real server.

The browser keeps the cookie, hides the HttpOnly session cookie from
JavaScript, and applies SameSite: these tests check sessionware's cookie
attributes where they matter, in a browser.
"""

import contextlib

import pytest

from gunicorn_server import OtherSite, demo_server
from servers import require_binary, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def demo(tmp_path, samesite="Lax"):
    """The demo on a free port, with this cookie SameSite."""
    return demo_server(tmp_path, "--cookie-samesite", samesite)


@contextlib.contextmanager
def chromium(tmp_path):
    """A headless Chromium driven by chromedriver; always quit on exit."""
    binary = require_binary("chromium")
    driver_binary = require_binary("chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console messages
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    service = Service(driver_binary, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()


def field(driver, name):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, name).text


def click(driver, selector):
    """Click a link or a form's button and wait for the next page to load."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    # A mark on the old page's window object: the next page has none.
    driver.execute_script("window.__before_click = true")
    driver.find_element(By.CSS_SELECTOR, selector).click()

    def next_page_loaded():
        try:
            return driver.execute_script(
                "return !window.__before_click && document.readyState === 'complete'"
            )
        except WebDriverException:  # the page is being replaced right now
            return False

    wait_for(next_page_loaded, timeout=20, what=f"the page after clicking {selector}")


def test_session_in_a_real_browser(tmp_path):
    with demo(tmp_path) as server, chromium(tmp_path) as driver:
        base = f"http://127.0.0.1:{server.port}"
        driver.get(base + "/")
        assert field(driver, "new") == "True" and field(driver, "keys") == "0"

        click(driver, "#do-set")  # a POST form, then the redirect's GET
        assert field(driver, "message").startswith("Stored the seed values")
        sid = field(driver, "sid")
        driver.refresh()  # GET the redirect's page again: nothing is repeated
        driver.get(base + "/")
        driver.refresh()
        assert field(driver, "new") == "False"
        assert field(driver, "sid") == sid and field(driver, "keys") == "5"
        assert "wuhan" in field(driver, "data")

        # The browser holds the cookie with our attributes...
        cookie = driver.get_cookie("session")
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
        assert "expiry" not in cookie  # not permanent: a browser-session cookie
        # ...and JavaScript cannot see it, although it sees other cookies.
        driver.execute_script("document.cookie = 'visible=1; path=/'")
        seen = driver.execute_script("return document.cookie")
        assert "visible=1" in seen and "session=" not in seen

        click(driver, "#do-permanent-on")
        assert field(driver, "permanent") == "True"
        assert driver.get_cookie("session")["expiry"] > 0

        click(driver, "#do-logout")
        assert field(driver, "message").startswith("Logged out") and field(driver, "keys") == "0"
        assert driver.get_cookie("session") is None
        driver.get(base + "/")
        assert field(driver, "new") == "True" and field(driver, "sid") != sid


@pytest.mark.parametrize("samesite, sent_cross_site", [("Strict", False), ("Lax", True)])
def test_samesite_on_a_cross_site_navigation(samesite, sent_cross_site, tmp_path):
    """127.0.0.1 and localhost are different sites: a link from one to the
    other is a cross-site top-level navigation, which carries a Lax cookie
    and not a Strict one."""
    with (
        demo(tmp_path, samesite) as a,
        OtherSite(tmp_path) as site_b,
        chromium(tmp_path) as driver,
    ):
        a_url = f"http://127.0.0.1:{a.port}/"
        link = site_b.page("link.html", f'<!doctype html><a id="to-a" href="{a_url}">to site A</a>')
        driver.get(a_url)
        click(driver, "#do-set")
        assert driver.get_cookie("session")["sameSite"] == samesite
        driver.get(a_url)  # typed into the address bar: same-site, cookie sent
        assert field(driver, "new") == "False"

        driver.get(link)
        click(driver, "#to-a")
        assert driver.current_url == a_url
        if sent_cross_site:
            assert field(driver, "new") == "False" and field(driver, "keys") == "5"
        else:
            assert field(driver, "new") == "True" and field(driver, "keys") == "0"
        # The browser still holds the cookie: a same-site navigation sends it.
        assert driver.get_cookie("session") is not None
        click(driver, 'a[href="/"]')
        assert field(driver, "new") == "False" and field(driver, "keys") == "5"
