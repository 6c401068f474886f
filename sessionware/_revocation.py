"""Revocation of cookie-store sessions: entries kept in a server-side store.

A cookie cannot be taken back from the browser, so the cookie store refuses
revoked ones instead. Three kinds of records live in the revocation store,
under ids no session id can take (sids never contain a ``.``):

``revoked.sid.<sid>``
    that session is dead: written by ``revoke(sid)``, and by the middleware
    when a session that came with the request is cleared, invalidated or
    moved to a new sid, so a copy of its old cookie is refused. A move or a
    logout also leaves a pointer there (``to:<new sid>``), so that a logout
    and a concurrent ``regenerate()`` of the same session always meet: see
    :meth:`Revocations.leave`.
``revoked.owner.<base64url(owner)>``
    ``epoch`` (a random number) and ``keep`` (a sid). An owned session
    carries the epoch its owner's entry had when the owner was set (0: no
    entry), read from this store at that time. ``revoke_owner`` writes a
    fresh epoch: a session whose epoch is not the current one was issued
    before the last revocation and is dead, except ``keep``. The revocation
    store orders a login against a revocation (the login read the entry
    before or after the revocation wrote it); no machine's clock takes part.
``revoked.lifetimes``
    the accept-window of every app using this store: each middleware with
    ``revocation=`` writes its ``permanent_lifetime`` there (as a field name,
    so writers never overwrite one another; the value is the Unix time until
    which it counts) before it checks or issues a cookie, and again every
    :data:`ANNOUNCE_SECONDS`. An entry lives as long as the longest lifetime
    found there, whoever writes it (another app, the command line), plus the
    cache time; a lifetime no app announced for a lifetime's worth of time
    no longer counts. An app whose lifetime is longer than every one found
    there when it starts accepts the cookies issued before it started only
    as long as that longest one did: entries written before it may live no
    longer than that.

The check costs one round trip per request that brings a cookie (both
entries are read with the store's ``load_many``: one pipeline on a Redis
server, one query on SQLite; on a Redis Cluster one per node holding an
entry, sent together; a store without ``load_many`` is asked once per entry).
Verdicts are cached per process for :data:`CACHE_SECONDS` in a bounded map
(:data:`CACHE_SIZE` entries), so bursts of requests of one session (a page
and its assets) cost one round trip. The price: a revocation made on
another process takes effect there up to :data:`CACHE_SECONDS` later;
revocations made by this process take effect here at once.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Final

from sessionware._config import MAX_DURATION
from sessionware.stores.base import Store, load_many

#: How long a verdict is reused by one process (the staleness allowed).
CACHE_SECONDS: Final = 1.0
#: At most this many verdicts are cached per process.
CACHE_SIZE: Final = 4096
#: A middleware writes its lifetime to ``revoked.lifetimes`` this often.
ANNOUNCE_SECONDS: Final = 600
#: Slack for clocks: lifetimes count this much longer than announced, and
#: entries live this much longer than the longest lifetime.
CLOCK_SLACK: Final = 60
_SID_ID: Final = "revoked.sid."
_OWNER_ID: Final = "revoked.owner."
_LIFETIMES_ID: Final = "revoked.lifetimes"
_POINTER: Final = "to:"
#: Pointer kinds: the session moved to a new sid (regenerate), or was ended
#: by a logout (clear(), invalidate()), perhaps into a fresh session.
MOVED: Final = b"r"
ENDED: Final = b"c"

#: ``check_many()``'s verdict for a revoked cookie; any other verdict is the
#: epoch the session must carry from now on (its own, or the current one
#: when ``revoke_owner(keep=...)`` spared it: then it is re-issued with it).
REVOKED: Final = None


def owner_id(owner: str) -> str:
    """Record id of an owner's entry: the owner encoded, never spliced."""
    encoded = base64.urlsafe_b64encode(owner.encode("utf-8", "surrogatepass"))
    return _OWNER_ID + encoded.decode("ascii")


def _epoch(entry: dict[str, bytes] | None) -> int:
    """The epoch of an owner entry (0: no entry); ``ValueError`` when unreadable."""
    if entry is None:
        return 0
    return int(entry["epoch"]) if "epoch" in entry else -1


def _longest(record: dict[str, bytes] | None, wall: int) -> int:
    """The longest lifetime still in force in the lifetimes record (0: none)."""
    longest = 0
    for field, value in (record or {}).items():
        try:
            if int(value) > wall:
                longest = max(longest, int(field))
        except ValueError:
            continue  # not ours: ignored
    return longest


class Revocations:
    """Revoked sids and owners of cookie sessions, in ``store``.

    :param lifetime: the ``permanent_lifetime`` of the middleware that uses
        it (how old a cookie it accepts), or ``None`` for the command line,
        which accepts none: then ``fallback`` is used when no app announced.
    """

    def __init__(self, store: Store, lifetime: int | None, fallback: int = 0) -> None:
        self.store = store
        self.lifetime = lifetime
        self.fallback = fallback
        self._cache: OrderedDict[tuple[str, str | None, int], tuple[float, int | None]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()
        self._announce_due = 0.0  # monotonic; 0: never announced
        #: Cookies issued before ``[0]`` (Unix time) are accepted up to ``[1]``
        #: seconds old (see the module doc); ``(0, 0)``: no such limit.
        self._cap = (0, 0)
        self._ttl: tuple[float, int] = (0.0, 0)  # (monotonic until, entry ttl)

    def __repr__(self) -> str:
        return f"Revocations({self.store!r})"

    # -- how long entries live ------------------------------------------------

    def announce(self) -> None:
        """Write this app's lifetime to the store when it is due (before a
        cookie is checked or issued): entries written by anyone from then on
        outlive every cookie this app accepts."""
        if self.lifetime is None or time.monotonic() < self._announce_due:
            return
        lifetime = self.lifetime
        wall = int(time.time())
        if not self._announce_due:  # this process's first: what was in force?
            before = _longest(self.store.load(_LIFETIMES_ID), wall)
            if 0 < before < lifetime:
                self._cap = (wall + CLOCK_SLACK, before)
        self._write_lifetime(lifetime, wall)
        self._announce_due = time.monotonic() + ANNOUNCE_SECONDS

    def _write_lifetime(self, lifetime: int, wall: int) -> None:
        until = wall + lifetime + ANNOUNCE_SECONDS + CLOCK_SLACK
        # Always the same TTL for the record, so no writer shortens it.
        ttl = MAX_DURATION + ANNOUNCE_SECONDS + 2 * CLOCK_SLACK
        self.store.save(_LIFETIMES_ID, {str(lifetime): str(until).encode("ascii")}, ttl)

    def too_old(self, issued: int) -> bool:
        """Whether a cookie issued at ``issued`` is older than the longest
        lifetime in force when this app started, and issued before: entries
        that refused it may be gone (see the module doc)."""
        before, age = self._cap
        return issued < before and int(time.time()) - issued > age

    def entry_ttl(self) -> int:
        """Seconds an entry written now must live: the longest lifetime any
        app using this store accepts (its own included), plus slack."""
        now = time.monotonic()
        until, ttl = self._ttl
        if now < until:
            return ttl
        return self._entry_ttl(self.store.load(_LIFETIMES_ID), now)

    def _entry_ttl(self, record: dict[str, bytes] | None, now: float) -> int:
        """:meth:`entry_ttl` from the lifetimes record as read at ``now``."""
        longest = max(self.lifetime or 0, _longest(record, int(time.time())))
        if not longest:
            # No app announced: the command line's guess, written down so
            # that an app starting later knows what was in force.
            longest = self.fallback
            self._write_lifetime(longest, int(time.time()))
        ttl = min(longest, MAX_DURATION) + int(CACHE_SECONDS) + 1 + CLOCK_SLACK
        self._ttl = (now + CACHE_SECONDS, ttl)
        return ttl

    # -- revoking -------------------------------------------------------------

    def revoke_sid(self, sid: str) -> None:
        """Refuse every cookie of ``sid`` from now on."""
        self.store.save(_SID_ID + sid, {"r": b"1"}, self.entry_ttl())
        self._forget()

    def revoke_owner(self, owner: str, keep: str | None) -> None:
        """Refuse every session of ``owner`` issued before now, except ``keep``."""
        changes: dict[str, bytes | None] = {
            "epoch": str(secrets.randbits(62) + 1).encode("ascii"),
            "keep": keep.encode("ascii") if keep else None,
        }
        self.store.save(owner_id(owner), changes, self.entry_ttl())
        self._forget()

    def epoch(self, owner: str) -> int:
        """The epoch a session of ``owner`` carries when its owner is set now
        (read from the store: never cached, so a login after a revocation
        carries the new one)."""
        try:
            return _epoch(self.store.load(owner_id(owner)))
        except ValueError:
            return -1  # an entry we cannot read: such a session is refused

    def leave(self, sid: str, new_sid: str | None, kind: bytes) -> bool:
        """A session leaves ``sid`` behind: moved to ``new_sid`` (``kind``
        :data:`MOVED`, a regenerate) or ended by a logout (:data:`ENDED`,
        with or without a fresh session ``new_sid``). Refuse ``sid`` and
        say whether the new session may live.

        Each side writes its pointer, then reads the entry: of a logout and
        a concurrent move, at least one sees the other (the store orders the
        writes). A logout revokes every session moved out of ``sid``; a move
        that finds a logout gives up its new session (``False``), and so does
        a logout's fresh session that finds an earlier logout (it holds data
        written by a request that loaded the session before that logout).
        """
        own = _POINTER + (new_sid or secrets.token_urlsafe(8) + ".")
        entry_id = _SID_ID + sid
        ttl = self.entry_ttl()
        self.store.save(entry_id, {"r": b"1", own: kind}, ttl)
        self._forget()
        entry = self.store.load(entry_id) or {}
        others = [(k, v) for k, v in entry.items() if k[:3] == _POINTER and k != own]
        if kind == MOVED:
            return all(value != ENDED for _, value in others)
        moved = [key[3:] for key, value in others if value == MOVED]
        for target in moved:
            self.store.save(_SID_ID + target, {"r": b"1"}, ttl)
        return new_sid is None or all(value != ENDED for _, value in others)

    # -- checking -------------------------------------------------------------

    def check_many(self, sessions: Sequence[tuple[str, str | None, int]]) -> list[int | None]:
        """A verdict for each verified cookie ``(sid, owner, epoch)``, in one
        round trip: :data:`REVOKED`, or the epoch it carries from now on.

        A failing store raises :class:`~sessionware.StoreError`: a check that
        cannot be made never lets a cookie through.
        """
        self.announce()  # before this app's first check, and every so often
        now = time.monotonic()
        cache = self._cache
        verdicts: list[int | None] = []
        missing: list[int] = []  # indexes of the sessions not cached
        for index, key in enumerate(sessions):
            # A single dict lookup is atomic: no lock needed to read.
            cached = cache.get(key)
            if cached is not None and cached[0] > now:
                verdicts.append(cached[1])
            else:
                verdicts.append(REVOKED)
                missing.append(index)
        if not missing:
            return verdicts
        ids: list[str] = []
        lifetimes = now >= self._ttl[0]  # read along, for the next entry written
        if lifetimes:
            ids.append(_LIFETIMES_ID)
        for index in missing:
            sid, owner, _ = sessions[index]
            ids.append(_SID_ID + sid)
            if owner is not None:
                ids.append(owner_id(owner))
        records = dict(zip(ids, load_many(self.store, ids), strict=True))
        if lifetimes:
            self._entry_ttl(records[_LIFETIMES_ID], now)
        with self._lock:
            for index in missing:
                key = sessions[index]
                verdicts[index] = verdict = self._verdict(key, records)
                cache[key] = (now + CACHE_SECONDS, verdict)
                cache.move_to_end(key)
            while len(cache) > CACHE_SIZE:
                cache.popitem(last=False)
        return verdicts

    @staticmethod
    def _verdict(
        key: tuple[str, str | None, int], records: dict[str, dict[str, bytes] | None]
    ) -> int | None:
        sid, owner, epoch = key
        if records[_SID_ID + sid] is not None:
            return REVOKED
        entry = records.get(owner_id(owner)) if owner is not None else None
        if entry is None:
            return epoch
        try:
            current = _epoch(entry)
        except ValueError:
            return REVOKED  # an entry we cannot read refuses rather than lets through
        if epoch == current and current >= 0:
            return epoch
        return current if entry.get("keep") == sid.encode("ascii") else REVOKED

    def _forget(self) -> None:
        # This process sees its own revocations at once.
        with self._lock:
            self._cache.clear()
