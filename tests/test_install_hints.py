"""A missing optional dependency is named with the command that installs
it, from PyPI and from a checkout (``pip install -e ".[extra]"``): each
case run in a fresh interpreter where that package cannot be imported."""

import subprocess
import sys

import pytest

CASES = {
    "redis": ("redis", "from sessionware.stores import RedisStore; RedisStore('redis://h/0')"),
    "redis-migrate": (
        "redis",
        "from sessionware.migrate import FlaskSessionRedis; FlaskSessionRedis('redis://h/0')",
    ),
    "postgresql": (
        "psycopg",
        "from sessionware.stores import PostgreSQLStore; PostgreSQLStore('postgresql://u@h/db')",
    ),
    "crypto": (
        "cryptography",
        "from sessionware.stores import CookieStore; CookieStore(encrypt=True)",
    ),
    "flask": ("flask", "import sessionware.flask"),
}
EXTRAS = {"redis-migrate": "redis"}


@pytest.mark.parametrize("case", CASES)
def test_a_missing_extra_names_both_install_commands(case):
    blocked, code = CASES[case]
    extra = EXTRAS.get(case, case)
    script = f"import sys; sys.modules[{blocked!r}] = None\n{code}"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert f'pip install "sessionware[{extra}]"' in last, last
    assert f'from a checkout: pip install -e ".[{extra}]"' in last, last
