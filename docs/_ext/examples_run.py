"""A Python example that the doctest builder would not run is a warning.

Every code block in a Python-like language must come from ``testcode``,
``doctest`` or ``testsetup`` (sphinx.ext.doctest), or be a ``>>>`` doctest
block (run too). Shell, text and config blocks are not Python and pass; the
command lines in them are checked by tests/test_docs.py. Under ``-W`` the
warning fails the build, so an untested example cannot be added.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)
PYTHON = {"python", "python3", "py", "pycon", "default", ""}


def check(app: Sphinx, doctree: nodes.document) -> None:
    for node in doctree.findall(nodes.literal_block):
        if node.get("testnodetype") or isinstance(node, nodes.doctest_block):
            continue
        language = node.get("language", app.config.highlight_language)
        if language in PYTHON:
            logger.warning(
                "a Python example that is not run: make it a testcode block "
                "(or mark a non-Python block with its language)",
                location=node,
            )


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("doctree-read", check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
