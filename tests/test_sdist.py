"""Packaging: the sdist is complete and the wheel holds the package and
nothing else (each, installed into a fresh virtualenv, runs the fast test
subset), twine accepts both, the metadata says what it should, and a missing
extra is named when its import fails."""

import configparser
import importlib.util
import os
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
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
    "docs/conf.py",
    "docs/_inventories/python.inv",
    ".readthedocs.yaml",
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


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """``(sdist, wheel, unpacked sdist)``: ``python -m build`` as a release
    makes them (the wheel is built from the sdist)."""
    pytest.importorskip("build", reason="pip install build (in the test extra)")
    tmp_path = tmp_path_factory.mktemp("dists")
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--outdir", dist, ROOT], timeout=600)
    (sdist,) = dist.glob("sessionware-*.tar.gz")
    (wheel,) = dist.glob("sessionware-*.whl")
    with tarfile.open(sdist) as archive:
        extras = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(tmp_path / "unpacked", **extras)
    (src,) = (tmp_path / "unpacked").iterdir()
    return sdist, wheel, src


def install_in_fresh_venv(tmp_path, target):
    """A fresh virtualenv holding ``target`` (an sdist tree or a wheel); its python.

    It reuses this environment's dependencies through a path file (fast,
    offline). Only paths are added: the .pth hooks of this environment (an
    editable sessionware) do not run there.
    """
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], timeout=120)
    python = venv / "bin" / "python"
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    parent = [path for path in site.getsitepackages() if Path(path).is_dir()]
    Path(purelib.stdout.strip(), "_parent_env.pth").write_text("\n".join(parent) + "\n")
    run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q",
         "--no-deps", "--ignore-installed", target],
        timeout=300,
    )  # fmt: skip
    return python


def run_fast_subset(python, tests_root):
    """The fast subset of ``tests_root``'s tests against the installed copy."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    # This environment's scripts (gunicorn) for the live tests of the subset,
    # whether or not its virtualenv is activated.
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    # -P: the source tree is not put on sys.path; the installed copy is used.
    where = run([python, "-P", "-c", "import sessionware; print(sessionware.__file__)"],
                cwd=tests_root, env=env)  # fmt: skip
    assert where.stdout.startswith(str(python.parent.parent)), where.stdout
    tests = run(
        [python, "-P", "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", FAST],
        cwd=tests_root,
        env=env,
        timeout=900,
    )
    assert " passed" in tests.stdout and "failed" not in tests.stdout, tests.stdout[-2000:]


@pytest.mark.slow
def test_the_sdist_installs_and_runs_the_fast_tests(dists, tmp_path):
    _, _, src = dists
    shipped = {str(path.relative_to(src)) for path in src.rglob("*") if path.is_file()}
    for name in NEEDED:
        assert name in shipped, f"{name} is missing from the sdist"
    tracked = tracked_files()
    if tracked is not None:
        missing = sorted(tracked - shipped - {".gitignore"})
        assert not missing, f"tracked files missing from the sdist (MANIFEST.in): {missing}"
    run_fast_subset(install_in_fresh_venv(tmp_path, src), src)


@pytest.mark.slow
def test_the_wheel_installs_and_runs_the_fast_tests(dists, tmp_path):
    """The wheel alone, no checkout on the path: the sdist's tests run
    against it from a directory that does not hold the package."""
    _, wheel, src = dists
    tests_root = tmp_path / "checkout-less"
    shutil.copytree(src, tests_root, ignore=shutil.ignore_patterns("sessionware"))
    run_fast_subset(install_in_fresh_venv(tmp_path, wheel), tests_root)


@pytest.mark.slow
def test_the_wheel_holds_the_package_and_nothing_else(dists):
    _, wheel, _ = dists
    import sessionware

    version = sessionware.__version__
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"sessionware-{version}.dist-info/METADATA").decode()
    info = f"sessionware-{version}.dist-info/"
    strays = [name for name in names if not name.startswith(("sessionware/", info))]
    assert not strays, strays
    assert "sessionware/py.typed" in names
    packaged = {name for name in names if name.endswith(".py")}
    source = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "sessionware").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert packaged == source
    # One version: the metadata is the package's.
    assert f"\nVersion: {version}\n" in metadata
    assert "Description-Content-Type: text/markdown" in metadata
    for extra in ("redis", "flask", "crypto", "postgresql", "docs", "test"):
        assert f"Provides-Extra: {extra}\n" in metadata, extra


@pytest.mark.slow
def test_twine_check_passes_on_both(dists):
    sdist, wheel, _ = dists
    if importlib.util.find_spec("twine") is None:
        reason = 'twine is not installed; pip install -e ".[test]"'
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so this is a failure, not a skip")
        pytest.skip(reason)
    result = run([sys.executable, "-m", "twine", "check", "--strict", sdist, wheel], timeout=120)
    assert result.stdout.count("PASSED") == 2, result.stdout


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
    extras = config["options.extras_require"]
    assert "build>=" in extras["test"] and "twine>=" in extras["test"]
    # CI builds the docs: the test extra carries the docs extra's packages.
    for requirement in extras["docs"].split():
        assert requirement in extras["test"].split(), requirement
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
