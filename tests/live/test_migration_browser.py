"""Switching to sessionware logs nobody out, for real: a shop (Flask-Login,
Flask-WTF, a cart) runs under gunicorn with Flask's built-in session or with
Flask-Session + Redis; headless Chromium logs in and fills a cart; the app is
restarted with ``Sessionware(app)``; the same browser is still logged in with
the same cart, and now holds a sessionware cookie."""

import json
from pathlib import Path

import pytest
import redis

from gunicorn_server import Gunicorn
from live.test_browser import chromium, field
from sessionware import SessionMiddleware
from sessionware.migrate import FlaskCookie
from sessionware.stores import RedisStore
from sessionware.testing import read_session

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LIVE = Path(__file__).resolve().parent
SECRET = "shop-live-secret-key-0123456789abcdef"


def serve(tmp_path, **env):
    env = {"SHOP_SECRET": SECRET, "SHOP_STORE": "", "SHOP_REDIS": "", **env}
    return Gunicorn(
        "shop_app:create_app()", workers=2, env=env, pythonpath=[LIVE], log_dir=tmp_path
    )


def click(driver, selector):
    """Submit a form by its button and wait for the next page to be loaded."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    def gone(_driver):
        # The old page's button no longer answers. Mid-navigation Chromium may
        # say so with "Node ... does not belong to the document" rather than
        # a stale-element error (seen on a CI run): any error means gone.
        try:
            button.is_enabled()
        except WebDriverException:
            return True
        return False

    button = driver.find_element(By.CSS_SELECTOR, selector)
    button.click()
    WebDriverWait(driver, 20).until(gone)
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def whoami(driver, base):
    from selenium.webdriver.common.by import By

    driver.get(base + "/whoami")
    return json.loads(driver.find_element(By.TAG_NAME, "body").text)


def log_in_and_fill_cart(driver, base):
    from selenium.webdriver.common.by import By

    driver.get(base + "/")
    assert field(driver, "user") == ""
    driver.find_element(By.ID, "username").send_keys("alice")
    driver.find_element(By.ID, "password").send_keys("wonderland")
    click(driver, "#login-button")  # a real form POST with the CSRF token
    assert field(driver, "user") == "alice"
    assert field(driver, "flashes") == "welcome alice"
    click(driver, "#add-apple")
    click(driver, "#add-pear")
    assert field(driver, "cart") == "apple,pear"


# (how the old app keeps sessions, the sessionware store after the restart)
SCENARIOS = {
    "flask-cookie-to-cookie-store": ("flask", "cookie"),
    "flask-cookie-to-redis-store": ("flask", "redis"),
    "flask-session-redis-to-sessionware": ("flask-session", "flask-session-config"),
}


@pytest.mark.parametrize(("old_mode", "target"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_restart_with_sessionware_keeps_the_browser_logged_in(
    old_mode, target, tmp_path, redis_server
):
    client = redis.Redis.from_url(redis_server.url)
    old_env = {"SHOP_MODE": old_mode}
    if old_mode == "flask-session":
        old_env["SHOP_REDIS"] = redis_server.url
    new_env = {"SHOP_MODE": "sessionware"}
    if target == "redis":
        new_env["SHOP_STORE"] = redis_server.url
    elif target == "flask-session-config":
        new_env["SHOP_REDIS"] = redis_server.url  # the unchanged Flask-Session config

    with chromium(tmp_path) as driver:
        with serve(tmp_path, **old_env) as old:
            log_in_and_fill_cart(driver, old.url)
            before = whoami(driver, old.url)
            assert before["session_type"].startswith(("flask.", "flask_session"))
            old_cookie = driver.get_cookie("session")["value"]
            if old_mode == "flask":
                assert FlaskCookie(SECRET).read([old_cookie]) is not None
            else:
                assert client.exists("shop:" + old_cookie)
            assert "Traceback" not in old.log_text()

        with serve(tmp_path, **new_env) as new:
            after = whoami(driver, new.url)  # the first request after the restart
            assert after["user"] == "alice" and after["cart"] == ["apple", "pear"]
            assert after["session_type"] == "sessionware.session"
            new_cookie = driver.get_cookie("session")
            assert new_cookie["value"] != old_cookie
            assert new_cookie["httpOnly"] is True and new_cookie["sameSite"] == "Lax"

            # The browser now holds a sessionware cookie (of the configured store).
            store = None
            if target == "redis":
                store = RedisStore(redis_server.url)
            elif target == "flask-session-config":
                store = RedisStore(client, prefix="shop:")
            checker = SessionMiddleware(lambda environ, start_response: [], SECRET, store=store)
            session = read_session(checker, new_cookie["value"])
            assert session["_user_id"] == "alice" and session["cart"] == ["apple", "pear"]
            if old_mode == "flask-session":
                assert not client.exists("shop:" + old_cookie)  # the old record is gone
                assert session.permanent  # Flask-Session's default, kept
                assert new_cookie.get("expiry")

            # The shop goes on with it: CSRF-protected forms, the cart, logout.
            driver.get(new.url + "/")
            click(driver, "#add-plum")
            assert field(driver, "user") == "alice"
            assert field(driver, "cart") == "apple,pear,plum"
            assert whoami(driver, new.url)["cart"] == ["apple", "pear", "plum"]
            driver.get(new.url + "/")
            click(driver, "#logout")
            assert field(driver, "user") == "" and field(driver, "cart") == ""
            assert whoami(driver, new.url)["user"] is None  # logged out for good
            assert "Traceback" not in new.log_text()
            if store is not None:
                store.close()
    client.close()
