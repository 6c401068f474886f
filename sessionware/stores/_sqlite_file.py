"""How SQLiteStore's database file comes to exist: mode 0600, and never
opened by anything but SQLite.

On POSIX, closing any descriptor of a file drops every lock the process
holds on it (SQLite's "How To Corrupt Your Database", 2.2). A store that
opened the database itself, even only to create it, would cost every other
connection of its process (another app's store, a revocation store) its
locks: another process (``sessionware cleanup``) could then take the file as
its own, checkpoint and delete the write-ahead log still in use, and the
first process's writes would go to a deleted file nobody else reads.
"""

from __future__ import annotations

import os
import tempfile
import threading
from contextlib import suppress

__all__ = ["create_private"]

# Held while a store of this process may create its database file; a new one
# in a forked child, which must not inherit it held by another thread.
_creating = threading.Lock()


def _new_lock() -> None:
    global _creating
    _creating = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock)


def create_private(path: str) -> None:
    """Create the database ``path``, empty, mode 0600 (SQLite gives its
    ``-wal``, ``-shm`` and ``-journal`` the database's mode), unless it
    exists: an existing file keeps its mode.

    ``path`` is never opened: the file is made and closed under a temporary
    name in the same directory, then linked into place, which fails if
    anything took the name meanwhile. A failure (no directory, no right to
    write there) is left to ``sqlite3.connect``, which reports it.
    """
    real = os.path.realpath(path)  # as SQLite does: a symlink's target
    with _creating:
        if os.path.exists(real):
            return
        try:
            fd, temporary = tempfile.mkstemp(prefix=".sessionware-", dir=os.path.dirname(real))
            os.close(fd)
        except OSError:
            return
        try:
            os.link(temporary, real)
        except FileExistsError:
            pass
        except OSError:
            # No hard links on this filesystem (vfat, some FUSE and network
            # ones): create it in place. O_EXCL makes it a file no process
            # holds yet, and no store of this one opens it before it is
            # closed (the lock above).
            with suppress(OSError):
                os.close(os.open(real, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        finally:
            with suppress(OSError):
                os.unlink(temporary)
