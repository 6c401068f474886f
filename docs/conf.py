"""Sphinx configuration: the sessionware documentation site.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html``; run the
examples: ``sphinx-build -W -b doctest docs docs/_build/doctest`` (both run by
tests/test_docs.py). No step needs the network: the intersphinx inventories
are committed under ``_inventories/`` (see its README).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import sessionware  # noqa: E402  (after the path set-up above)

project = "sessionware"
author = "the sessionware authors"
copyright = "the sessionware authors"  # noqa: A001  (Sphinx's name)
# One source of the version: the package (setup.cfg reads it too).
release = sessionware.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    # The API reference comes from the docstrings, so it cannot drift from the
    # code; they are written in reST already (:param x:, :class:), so no napoleon.
    "sphinx.ext.autodoc",
    # Links into Python's, werkzeug's, itsdangerous' and Flask's docs.
    "sphinx.ext.intersphinx",
    # Every example on every page runs: `.. testcode::` / ```{testcode}```
    # blocks and doctest blocks, under `sphinx-build -b doctest`.
    "sphinx.ext.doctest",
    # The pages are MyST Markdown: their text comes from README.md (the manual
    # until now), so it moves without rewriting, and CHANGES.md is included as is.
    "myst_parser",
    # Local: a Python block that is not run as a test is a warning (an error under -W).
    "examples_run",
]

# Furo: a clean, readable theme with a searchable sidebar that shows the
# whole navigation, light and dark modes and a good mobile layout, and its
# assets are all local (no fonts or scripts from a CDN: the site works
# offline, and a browser shows no console errors when it does).
html_theme = "furo"
html_title = f"sessionware {release}"
html_static_path = ["_static"]
# A page without an icon makes the browser ask for /favicon.ico (a 404 in its console).
html_favicon = "_static/favicon.svg"

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_inventories", "_ext", "Thumbs.db", ".DS_Store"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
nitpicky = True
# Names that have no page to link to (type aliases of the standard library's
# typing that Python's inventory does not carry, and internal protocols).
nitpick_ignore_regex = [
    (r"py:.*", r"wsgiref\.types\..*"),
    # Internal modules and classes (a name with a "_" part): not documented.
    (r"py:.*", r"sessionware(\.\w+)*\._\w+.*"),
    (r"py:.*", r"(psycopg_pool|redis|psycopg)\..*"),
    # Annotations of names imported only under TYPE_CHECKING, which autodoc
    # cannot resolve (they show as written), and internal base classes.
    (
        r"py:class",
        r"(timedelta|datetime|SessionMixin|Request|Response|WSGIEnvironment|WSGIApplication"
        r"|StartResponse|Revocations|Backend|FlaskMiddleware|CookieSealer|Refresh|sessionware.stores.cookie.CookieSealer|sessionware.stores.base.Refresh"
        r"|RedisOwnerIndex|PostgreSQLOwners|Reader|Store|Found)",
    ),
]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
# An override without a docstring says nothing rather than repeat its base's
# (Flask's SessionInterface, MutableMapping), which may not hold here.
autodoc_inherit_docstrings = False
autodoc_default_options = {"members": True, "show-inheritance": True}

# Offline inventories (see _inventories/README.md for where each comes from).
intersphinx_mapping = {
    "python": ("https://docs.python.org/3/", str(HERE / "_inventories" / "python.inv")),
    "werkzeug": (
        "https://werkzeug.palletsprojects.com/en/stable/",
        str(HERE / "_inventories" / "werkzeug.inv"),
    ),
    "flask": (
        "https://flask.palletsprojects.com/en/stable/",
        str(HERE / "_inventories" / "flask.inv"),
    ),
    "itsdangerous": (
        "https://itsdangerous.palletsprojects.com/en/stable/",
        str(HERE / "_inventories" / "itsdangerous.inv"),
    ),
}
intersphinx_timeout = 1

# What every example sees: a secret key in the environment (as the pages tell
# the reader to export one), the reader's plain WSGI app as ``wsgi_app`` (also ``app``), and a
# scratch directory as the working directory, so SQLite files land there.
doctest_global_setup = """
import os, tempfile
__name__ = "app"  # as in the reader's app.py (Flask(__name__) finds its root)
os.environ.setdefault("SESSIONWARE_SECRET_KEY", "docs-example-key-" + "x" * 32)
os.chdir(tempfile.mkdtemp(prefix="sessionware-docs-"))

def wsgi_app(environ, start_response):
    if environ["PATH_INFO"] == "/logout":
        environ["session"].clear()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]

# The names the docstrings' examples use for the reader's app and keys.
app = my_wsgi_app = wsgi_app
SECRET = SECRET_KEY = os.environ["SESSIONWARE_SECRET_KEY"]
OLD_FLASK_KEY = "old-flask-key"
"""
doctest_test_doctest_blocks = "default"
