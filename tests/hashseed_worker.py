"""Run in a subprocess by ``test_reads_never_write.py``, under a chosen
``PYTHONHASHSEED`` (and time zone and locale): another worker, or the same
app after a restart.

Reads one JSON command on stdin, writes one JSON answer on stdout:

- ``{"do": "encode"}`` plus pickled values (hex) in ``"values"``: answers
  the hex encoding of each (or the error it raised).
- ``{"do": "write"|"read", "stores": {...}}``: one request per store through
  the real middleware; ``write`` saves ``DATA`` in a new session, ``read``
  sends the given cookie and reads every key. Answers, per store, the
  ``Set-Cookie`` headers and whether the data read equals ``DATA``, plus
  the SQLite connection's ``total_changes`` (rows this process wrote).
"""

from __future__ import annotations

import json
import pickle
import sys

#: Sets and frozensets of every kind a session may hold, built in each
#: process anew: their iteration order follows that process's hash seed.
DATA = {
    "tags": {f"tag-{i}" for i in range(24)},
    "blobs": frozenset(f"blob-{i}".encode() for i in range(24)),
    "pairs": {(f"k{i}", i, f"v{i}".encode()) for i in range(16)},
    "nested": frozenset(frozenset({f"x{i}", f"y{i}", (f"z{i}",)}) for i in range(12)),
    "inside": {"list": [{"a", "b", "c", "d", "e", "f", "g", "h"}], "n": 1},
}
SECRET = "hashseed-test-secret-key-0123456789abc"


def make_store(spec):
    from sessionware.stores import RedisStore, SQLiteStore

    if spec["kind"] == "cookie":
        return None
    if spec["kind"] == "sqlite":
        return SQLiteStore(spec["path"])
    return RedisStore(spec["url"], prefix=spec["prefix"])


def request(spec, mode, cookie):
    from werkzeug.test import Client

    from sessionware import SessionMiddleware

    seen = {}

    def app(environ, start_response):
        session = environ["session"]
        if mode == "write":
            session.update(DATA)
        else:
            seen["equal"] = {key: session[key] for key in session} == DATA
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    store = make_store(spec)
    client = Client(SessionMiddleware(app, SECRET, store=store), use_cookies=False)
    headers = {"Cookie": f"session={cookie}"} if cookie else {}
    response = client.get("/", headers=headers)
    answer = {"set_cookies": response.headers.getlist("Set-Cookie"), **seen}
    if spec["kind"] == "sqlite":
        answer["total_changes"] = store._conn.total_changes
    return answer


def main():
    command = json.load(sys.stdin)
    if command["do"] == "encode":
        from sessionware._codec import encode

        answers = []
        for value in pickle.loads(bytes.fromhex(command["values"])):
            try:
                answers.append(encode(value).hex())
            except Exception as exc:  # the same refusal in both processes is fine
                answers.append(f"{type(exc).__name__}: {exc}")
        json.dump(answers, sys.stdout)
        return
    json.dump(
        {
            name: request(spec, command["do"], spec.get("cookie"))
            for name, spec in command["stores"].items()
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
