"""The peer check: Flask's own session tests, run against the adapter.

Flask's sdist (the installed version) is fetched with pip once per run; its
session and flash tests run in a subprocess with ``Sessionware(app)`` on
every app they build (tests/flask_suite/), on the cookie, memory and Redis
stores. Every one passes but the known, deliberate differences (API.md
section 7), which must fail: a test that starts passing is a change of
contract to look at.
"""

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SUITE_FILES = ("test_basic.py", "test_testing.py", "test_reqctx.py", "test_session_interface.py")
#: Flask's session tests sessionware fails on purpose, and why.
DELIBERATE = {
    "test_basic.py::test_missing_session": "a missing SECRET_KEY is refused at init_app",
    "test_testing.py::test_session_transactions_no_null_sessions": "the same",
    "test_basic.py::test_session_using_samesite_attribute": "SameSite defaults to Lax",
    "test_basic.py::test_session_refresh_vary": "loading is lazy: an untouched session "
    "is not refreshed",
}


@pytest.fixture(scope="session")
def flask_tests(tmp_path_factory):
    """Flask's tests directory, from the sdist of the installed Flask."""
    version = importlib.metadata.version("flask")
    where = tmp_path_factory.mktemp("flask-sdist")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "-q", "-d", str(where), f"flask=={version}"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    archives = list(where.glob("flask-*.tar.gz"))
    if result.returncode != 0 or not archives:
        if os.environ.get("CI"):
            pytest.fail(f"could not fetch Flask's sdist: {result.stderr[-500:]}")
        pytest.skip("Flask's sdist could not be fetched (no network?)")
    with tarfile.open(archives[0]) as archive:
        archive.extractall(where, filter="data")
    source = where / f"flask-{version}" / "tests"
    suite = where / "suite"
    suite.mkdir()
    for name in (*SUITE_FILES, "static", "templates"):
        copy = shutil.copytree if (source / name).is_dir() else shutil.copy
        copy(source / name, suite / name)
    shutil.copy(HERE / "flask_suite" / "conftest.py", suite / "conftest.py")
    return suite


@pytest.mark.parametrize("store", ["cookie", "memory", "redis"])
def test_flask_session_tests_pass(flask_tests, store, request):
    url = {"cookie": "", "memory": "memory://"}.get(store)
    if url is None:
        url = request.getfixturevalue("redis_server").url
    report = flask_tests / f"report-{store}.xml"
    env = {
        **os.environ,
        "SW_FLASK_SUITE_STORE": url,
        "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE / "flask_suite")]),
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-p", "sessionware_plugin", "-k", "session or flash", f"--junitxml={report}",
         # Flask's test keys are short: that warning is sessionware's own.
         "-W", "error::sessionware.SessionWarning",
         "-W", "ignore:secret_key is only:sessionware.SessionWarning", *SUITE_FILES],
        cwd=flask_tests, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    outcomes = {}
    for case in ET.parse(report).iter("testcase"):
        name = f"{case.get('classname').rsplit('.', 1)[-1]}.py::{case.get('name')}"
        failed = case.find("failure") is not None or case.find("error") is not None
        outcomes[name] = "failed" if failed else "passed"
    assert len(outcomes) == 23, run.stdout[-3000:]
    unexpected = {
        name: o for name, o in outcomes.items() if (name in DELIBERATE) != (o == "failed")
    }
    assert unexpected == {}, run.stdout[-3000:]
