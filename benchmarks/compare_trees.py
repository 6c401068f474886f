"""Two versions of sessionware side by side in one run: is the new code slower?

Run: ``python benchmarks/compare_trees.py OLD NEW [--quick] [--threshold 3]``

OLD and NEW are source trees (directories holding ``sessionware/``) or git
revisions of this repository (extracted with ``git archive`` into a temporary
directory). Every round runs one worker process per tree, alternating which
goes first, with ``PYTHONPATH`` set to that tree; each worker measures every
cell (scenario x store x bare/Flask) with the same harness and loop counts,
pinned to one CPU. A cell's figure is the best of all its repeats over all
rounds, so a burst of load from other processes hits both trees alike and
the minimum is the code. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE)]
from _common import ROOT, TESTS, machine_lines, table, verdict  # noqa: E402
from harness import LABELS, SCENARIOS, Contender, Timer, make_environ  # noqa: E402

STORES = ("cookie", "memory", "redis", "sqlite")
FRAMEWORKS = ("bare", "flask")
#: The apps without any session, measured by every worker: their old/new
#: ratio shows how much two runs of the same code differ (the noise floor).
CONTROLS = {
    "bare": "bare WSGI app, no session",
    "flask": "Flask app, session interface doing nothing",
}


def cell(framework: str, store: str, scenario: str) -> str:
    return f"{framework}/{store}/{scenario}"


# -- the worker: one tree, one process ----------------------------------------------


def make_store(kind: str, spec: dict[str, Any]) -> Any:
    from sessionware.stores import MemoryStore, RedisStore, SQLiteStore

    if kind == "cookie":
        return None
    if kind == "memory":
        return MemoryStore()
    if kind == "redis":
        return RedisStore(spec["redis_url"], prefix=f"compare-{spec['label']}:")
    return SQLiteStore(spec["sqlite_path"])


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Measure every cell with the sessionware on ``sys.path`` (the tree's)."""
    import warnings

    warnings.simplefilter("ignore")  # deprecation noise is not what is measured
    if spec.get("cpu") is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {spec["cpu"]})
    from scenarios import flask, reference
    from scenarios import sessionware as contenders

    import sessionware

    where = Path(sessionware.__file__).resolve()
    if not where.is_relative_to(Path(spec["tree"]).resolve()):
        raise RuntimeError(f"imported {where}, not the tree {spec['tree']}")
    timer = Timer(repeat=spec["repeat"], min_time=spec["min_time"])
    reference.bare(timer, key=cell("bare", "-", "control"))
    no_session = flask.no_session_work()
    timer.request(cell("flask", "-", "control"), no_session, make_environ("/untouched"))
    stores = []
    for kind in spec["stores"]:
        for framework in spec["frameworks"]:
            store = make_store(kind, spec)
            stores.append(store)
            name = f"sessionware {kind} ({framework})"
            contender: Contender | None = (
                contenders.bare(name, store)
                if framework == "bare"
                else contenders.under_flask(name, store)
            )
            if contender is None:
                continue  # this tree has no Flask adapter
            for scenario in SCENARIOS:
                timer.request(cell(framework, kind, scenario), *contender.scenario(scenario))
    try:
        numbers, samples = timer.samples(lambda text: None, spec.get("numbers"))
    finally:
        for store in stores:
            if hasattr(store, "close"):
                store.close()
    return {"sessionware": str(where), "numbers": numbers, "samples": samples}


# -- the parent: trees, rounds, the table ----------------------------------------------


def checkout(tree: str, tmp: Path, label: str) -> Path:
    """A directory holding ``sessionware/``: ``tree`` itself, or a git revision extracted."""
    path = Path(tree)
    if (path / "sessionware").is_dir():
        return path.resolve()
    target = tmp / label
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", tree, "sessionware"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise SystemExit(f"{tree!r} is neither a source tree nor a git revision: "
                         f"{archive.stderr.decode(errors='replace').strip()}")  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def describe(tree: str, path: Path) -> str:
    """The tree and, for a git checkout or revision, its commit."""
    where = str(path) if Path(tree).is_dir() else "extracted"
    head = subprocess.run(
        ["git", "-C", str(path if Path(tree).is_dir() else ROOT), "rev-parse", "--short",
         "HEAD" if Path(tree).is_dir() else tree],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    commit = head.stdout.strip() if head.returncode == 0 else "not a git tree"
    dirty = ""
    if Path(tree).is_dir() and head.returncode == 0:
        status = subprocess.run(
            ["git", "-C", str(path), "status", "--porcelain", "--", "sessionware"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        dirty = " + uncommitted changes" if status.stdout.strip() else ""
    return f"{tree} ({where}; commit {commit}{dirty})"


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    # One hash seed for every worker: dict and set layouts are then the same
    # in both trees' processes, one source of run-to-run difference fewer.
    env = {**os.environ, "PYTHONPATH": spec["tree"], "PYTHONHASHSEED": "0"}
    result = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"worker for {spec['label']} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def compare(args: argparse.Namespace, tmp: Path, redis_url: str) -> dict[str, Any]:
    trees = {
        "old": checkout(args.old, tmp, "old"),
        "new": checkout(args.new, tmp, "new"),
    }
    base = {
        "redis_url": redis_url,
        "stores": args.stores,
        "frameworks": args.frameworks,
        "repeat": args.repeat,
        "min_time": args.min_time,
        "cpu": args.cpu,
        "numbers": None,
    }
    samples: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
    imported = {}
    for index in range(args.rounds):
        order = ("old", "new") if index % 2 == 0 else ("new", "old")
        for label in order:
            print(f"  round {index + 1}/{args.rounds}: {label}…", file=sys.stderr, flush=True)
            spec = {
                **base,
                "label": label,
                "tree": str(trees[label]),
                "sqlite_path": str(tmp / f"{label}.db"),
            }
            result = run_worker(spec)
            base["numbers"] = base["numbers"] or result["numbers"]  # same loops for both
            imported[label] = result["sessionware"]
            for key, values in result["samples"].items():
                samples[label].setdefault(key, []).extend(values)
    best = {
        label: {key: min(values) * 1e6 for key, values in cells.items()}
        for label, cells in samples.items()
    }
    return {"trees": trees, "imported": imported, "best": best}


def report(args: argparse.Namespace, result: dict[str, Any]) -> bool:
    best = result["best"]
    old, new = best["old"], best["new"]
    limit = 1 + args.threshold / 100
    md = args.markdown
    lines = machine_lines(f"CPU pinned: {args.cpu}" if args.cpu is not None else "not pinned")
    print("\n".join(lines if md else [line[2:] for line in lines]))
    for label, tree in (("old", args.old), ("new", args.new)):
        print(f"{'- ' if md else ''}{label}: {describe(tree, result['trees'][label])}, "
              f"imported from {result['imported'][label]}")  # fmt: skip
    print(
        f"\nµs per request, best of {args.rounds} rounds x {args.repeat} repeats per tree "
        f"(≥ {args.min_time * 1000:g} ms each), rounds alternating which tree goes first. "
        "Overhead: minus the control app of the same framework (the same code in both "
        "trees: the best of both runs). "
        f"Verdict on the {args.metric} ratio new/old: FAIL above {limit:.2f}.\n"
    )
    headers = ["cell", "old µs", "new µs", "ratio", "old overhead", "new overhead", "ratio",
               "result"]  # fmt: skip
    rows = []
    ok = True
    for framework in args.frameworks:
        control = cell(framework, "-", "control")
        # The control is the same code in both trees: its best estimate is the
        # best of both, and subtracting that keeps its noise out of the ratios.
        floor = min(old[control], new[control])
        rows.append([f"{framework}: {CONTROLS[framework]} (control)", f"{old[control]:.2f}",
                     f"{new[control]:.2f}", f"{new[control] / old[control]:.3f}", "-", "-", "-",
                     "noise"])  # fmt: skip
        for store in args.stores:
            for scenario in SCENARIOS:
                key = cell(framework, store, scenario)
                if key not in old or key not in new:
                    rows.append([f"{framework}, {store}, {LABELS[scenario]}", *["n/a"] * 7])
                    continue
                over_old, over_new = old[key] - floor, new[key] - floor
                time_ratio = new[key] / old[key]
                over_ratio = over_new / over_old if over_old > 0 else float("inf")
                passed = (time_ratio if args.metric == "time" else over_ratio) <= limit
                ok = ok and passed
                rows.append([f"{framework}, {store}, {LABELS[scenario]}", f"{old[key]:.2f}",
                             f"{new[key]:.2f}", f"{time_ratio:.3f}", f"{over_old:.2f}",
                             f"{over_new:.2f}", f"{over_ratio:.3f}", verdict(passed)])  # fmt: skip
    print(table(headers, rows, md))
    print(f"\n{verdict(ok)}: no cell's {args.metric} more than {args.threshold:g} % slower")
    return ok


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--worker"]:
        print(json.dumps(worker(json.loads(sys.argv[2]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="the old source tree, or a git revision")
    parser.add_argument("new", help="the new source tree, or a git revision")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (~1 min)")
    parser.add_argument("--rounds", type=int, help="worker runs per tree (default 12; quick 8)")
    parser.add_argument("--repeat", type=int, help="repeats per cell per run (20; quick 10)")
    parser.add_argument("--min-time", type=float, help="seconds per repeat (0.003; quick 0.002)")
    parser.add_argument("--threshold", type=float, default=3.0, help="percent slower that fails")
    parser.add_argument("--metric", choices=("overhead", "time"), default="overhead",
                        help="what the verdict compares (default: overhead)")  # fmt: skip
    parser.add_argument("--stores", default=",".join(STORES), help="comma-separated subset")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS), help="bare,flask")
    parser.add_argument("--cpu", type=int, help="pin the workers to this CPU (default: the last)")
    parser.add_argument("--markdown", action="store_true", help="a README-ready table")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (8 if args.quick else 12)
    args.repeat = args.repeat or (10 if args.quick else 20)
    args.min_time = args.min_time or (0.002 if args.quick else 0.003)
    args.stores = [s for s in args.stores.split(",") if s]
    args.frameworks = [f for f in args.frameworks.split(",") if f]
    if bad := (set(args.stores) - set(STORES)) | (set(args.frameworks) - set(FRAMEWORKS)):
        parser.error(f"unknown store or framework: {', '.join(sorted(bad))}")
    if args.cpu is None and hasattr(os, "sched_getaffinity"):
        args.cpu = max(os.sched_getaffinity(0))

    sys.path.insert(0, str(TESTS))
    from servers import RedisServer

    with tempfile.TemporaryDirectory(prefix="sessionware-compare-") as tmp:
        redis_server = RedisServer(Path(tmp) / "redis").start()
        if args.cpu is not None:
            # On the workers' CPU: a round trip then never waits for a turn
            # on a CPU that other processes keep busy.
            os.sched_setaffinity(redis_server.process.pid, {args.cpu})
        try:
            result = compare(args, Path(tmp), redis_server.url)
        finally:
            redis_server.stop()
    return 0 if report(args, result) else 1


if __name__ == "__main__":
    sys.exit(main())
