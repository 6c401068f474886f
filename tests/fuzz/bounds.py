"""The Cookie header's cost bound, shared by the atheris harness
(fuzz_cookie.py) and the Hypothesis targets (tests/test_fuzz.py): memory and
time linear in the header's length (README: Security notes)."""

from __future__ import annotations

import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

#: Peak memory a header may cost: a few copies of itself plus a constant for
#: the request's own work. The lazy cookie-pair scan costs at most about two
#: (one value, stripped); a list of every pair would cost up to ~28 (a str
#: per 3-byte pair "é;"), a quadratic parser thousands.
COPIES = 4
PARSER_CONSTANT = 16 * 1024
REQUEST_CONSTANT = 128 * 1024
#: CPU seconds per input, whatever its length (a linear parse takes ~20 ms).
TIME_BOUND = 0.5


def parse_all(parser: Any, header: str) -> None:
    """Every candidate ``parser`` yields, each dropped before the next (as the
    backend uses them): a lazy parser is measured doing all its work."""
    for _ in parser.candidates(header):
        pass


def bounded(function: Callable[[str], object], header: str, constant: int) -> None:
    """Run ``function(header)``; raise AssertionError if its peak memory or
    CPU time is not linear in the header's length with a small constant."""
    tracemalloc.start()
    started = time.process_time()
    try:
        function(header)
        elapsed = time.process_time() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Copies of the header as Python holds it (4 bytes a character once one
    # is astral; a server's latin-1 header is 1).
    limit = COPIES * sys.getsizeof(header) + constant
    if peak > limit:
        raise AssertionError(f"{peak} bytes for a {len(header)}-byte header (limit {limit})")
    if elapsed > TIME_BOUND:
        raise AssertionError(f"{elapsed:.3f} s CPU for a {len(header)}-byte header")
