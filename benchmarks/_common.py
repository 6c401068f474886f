"""Shared pieces of the benchmarks: the seed payload, machine description, tables.

Not a test module: the benchmarks are scripts run by hand.
"""

from __future__ import annotations

import copy
import datetime
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

from sessionware._demo import SEED as DEMO_SEED

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"

SECRET = "bench-secret-key-0123456789abcdef-xyz"

#: The seed project's example session (what the demo's /set stores).
SEED = copy.deepcopy(DEMO_SEED)

LIBRARIES = (
    "sessionware",
    "flask",
    "werkzeug",
    "itsdangerous",
    "msgpack",
    "redis",
    "flask-session",
    "beaker",
    "gunicorn",
)


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo (or what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def library_versions() -> str:
    found = []
    for name in LIBRARIES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def machine_lines(extra: str = "") -> list[str]:
    """Lines naming the machine, the software and the date of a run."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"- Machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}",
        f"- Python {platform.python_version()} ({sys.implementation.name})",
        f"- Libraries: {library_versions()}",
        f"- Date: {now}",
    ]
    if extra:
        lines.append(f"- {extra}")
    return lines


def table(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    """A markdown table, or the same table aligned for a terminal."""
    if markdown:
        out = ["| " + " | ".join(headers) + " |"]
        out.append("|" + "|".join(" --- " for _ in headers) + "|")
        out += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(out)
    widths = [max(len(str(cell)) for cell in col) for col in zip(headers, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
