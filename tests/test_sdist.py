"""Packaging: the sdist is complete (built, unpacked, installed into a fresh
virtualenv, it runs the fast test subset), the metadata says what it should,
and a missing extra is named when its import fails."""

import configparser
import os
import site
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FAST = "not slow and not soak and not browser"
#: What the tests need from the sdist besides the package and the test modules.
NEEDED = (
    "tests/conftest.py",
    "tests/helpers.py",
    "tests/servers.py",
    "tests/gunicorn_server.py",
    "tests/fuzz/fuzz_cookie.py",
    "examples/wsgi_app.py",
    "CHANGES.md",
    "tox.ini",
    "LICENSE",
    "README.md",
    ".ci/run",
)


def run(command, **kwargs):
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, **kwargs
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def tracked_files():
    """Files git tracks here, or None outside a git checkout (an unpacked sdist)."""
    try:
        result = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, timeout=30
        )
    except FileNotFoundError:
        return None
    if result.returncode != 0:
        return None
    return {name for name in result.stdout.split("\0") if name}


@pytest.mark.slow
def test_the_sdist_installs_and_runs_the_fast_tests(tmp_path):
    pytest.importorskip("build", reason="pip install build (in the test extra)")
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--sdist", "--outdir", dist, ROOT], timeout=300)
    (sdist,) = dist.glob("sessionware-*.tar.gz")
    with tarfile.open(sdist) as archive:
        extras = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(tmp_path / "unpacked", **extras)
    (src,) = (tmp_path / "unpacked").iterdir()

    shipped = {str(path.relative_to(src)) for path in src.rglob("*") if path.is_file()}
    for name in NEEDED:
        assert name in shipped, f"{name} is missing from the sdist"
    tracked = tracked_files()
    if tracked is not None:
        missing = sorted(tracked - shipped - {".gitignore"})
        assert not missing, f"tracked files missing from the sdist (MANIFEST.in): {missing}"

    # A fresh virtualenv that reuses this environment's dependencies through
    # a path file (fast, offline). Only paths are added: the .pth hooks of
    # this environment (an editable sessionware) do not run there.
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], timeout=120)
    python = venv / "bin" / "python"
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    parent = [path for path in site.getsitepackages() if Path(path).is_dir()]
    Path(purelib.stdout.strip(), "_parent_env.pth").write_text("\n".join(parent) + "\n")
    run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q",
         "--no-deps", "--ignore-installed", src],
        timeout=300,
    )  # fmt: skip

    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    # This environment's scripts (gunicorn) for the live tests of the subset,
    # whether or not its virtualenv is activated.
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    # -P: the unpacked source tree is not put on sys.path; the installed copy is used.
    where = run([python, "-P", "-c", "import sessionware; print(sessionware.__file__)"],
                cwd=src, env=env)  # fmt: skip
    assert where.stdout.startswith(str(venv)), where.stdout
    tests = run(
        [python, "-P", "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", FAST],
        cwd=src,
        env=env,
        timeout=900,
    )
    assert " passed" in tests.stdout and "failed" not in tests.stdout, tests.stdout[-2000:]


def test_metadata():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    metadata = config["metadata"]
    assert metadata["license_expression"] == "BSD-3-Clause"
    assert metadata["author"] and metadata["project_urls"].strip()
    classifiers = metadata["classifiers"]
    for minor in (11, 12, 13, 14):
        assert f"Programming Language :: Python :: 3.{minor}\n" in classifiers + "\n"
    assert "License ::" not in classifiers  # the license expression replaces it
    assert config["options"]["python_requires"] == ">=3.11"
    assert "build>=" in config["options.extras_require"]["test"]
    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini", encoding="utf-8")
    assert "py314" in tox["tox"]["envlist"]
    assert tox["tox"]["skip_missing_interpreters"] == "true"


def test_flask_import_without_the_extra_names_it():
    code = "import sys; sys.modules['flask'] = None; import sessionware.flask"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert 'pip install "sessionware[flask]"' in result.stderr.splitlines()[-1]
