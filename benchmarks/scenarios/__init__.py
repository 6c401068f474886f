"""Who is measured: one module per family of contenders, each building ``Contender``\\ s
(see ``harness.py``) with the same small app per scenario.

- ``reference``: the bare WSGI app (no session) and the codec floor;
- ``sessionware``: the middleware with each store, bare and under Flask;
- ``flask``: the Flask app per scenario, Flask's own session, Flask-Session;
- ``beaker``: Beaker's cookie and ``ext:redis`` sessions.
"""
