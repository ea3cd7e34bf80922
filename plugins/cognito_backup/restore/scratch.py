"""A temporary SQLite file: what a task joins or looks up over a whole pool without holding it in memory."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading


class ScratchDb:
    """A temporary SQLite file made with `schema`, deleted on close; usable from any thread under `lock`.

    :param schema: the SQL that creates its tables.
    :param prefix: the file name's prefix.
    """

    def __init__(self, schema: str, prefix: str, directory: str | None = None) -> None:
        fd, self.path = tempfile.mkstemp(prefix=prefix, suffix=".sqlite", dir=directory)
        os.close(fd)
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + schema)
        self.lock = threading.Lock()

    def close(self) -> None:
        self.db.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
