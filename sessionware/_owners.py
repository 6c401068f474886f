"""When a server-side save also writes the owner index, and for how long.

The index must never list less than is live, yet cost nothing on ordinary
requests, although a sliding refresh extends a record's TTL without the
index hearing of it. So an index entry is written to outlive its record by
a margin: time since the session was created is cut into epochs of
``permanent_lifetime`` (L), and an entry written during epoch *e* lives
until the end of epoch *e + 1*. Every save or refresh during epoch *e* sets
the record to expire within L, so before that end. A request whose cookie
was issued in an earlier epoch than now (at most once per L per session)
writes the entry again; so does every save that creates a record (new,
regenerated or cleared session) or changes its owner. Everything else
costs no round trip. An entry thus outlives its session by at most 2 L,
and never more than ``absolute_lifetime`` since creation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sessionware.stores.base import OwnerIndex

if TYPE_CHECKING:
    from sessionware._backends.server import ServerBackend
    from sessionware._config import Config
    from sessionware._state import SessionState


def entry_ttl(config: Config, created: int, now: int) -> int:
    """Seconds an index entry written ``now`` must live (see the module doc)."""
    lifetime = config.permanent_lifetime
    end = created + ((now - created) // lifetime + 2) * lifetime
    if config.absolute_lifetime is not None:
        end = min(end, created + config.absolute_lifetime)
    return max(end - now, 1)


def index_owner(
    backend: ServerBackend, state: SessionState, sid: str, now: int, force: bool
) -> None:
    """After a save or refresh of an owned session: write its index entry
    when ``force`` (a new record, a new owner) or when its epoch changed."""
    store = backend.store
    owner = state.owner
    if owner is None or not isinstance(store, OwnerIndex):
        return
    created = state.created
    lifetime = backend.config.permanent_lifetime
    if not force and (now - created) // lifetime == (state.issued - created) // lifetime:
        return  # written during this epoch already: it outlives the record
    store.index_owner(owner, sid, entry_ttl(backend.config, created, now))
