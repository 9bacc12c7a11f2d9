"""Request ids: UUIDv7 (RFC 9562), time-ordered, so the ledger's indexes on request ids grow at their
right edge instead of changing a random page per request (each page's first change after a Postgres
checkpoint writes the whole page to the WAL)."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last = 0


def new_request_id() -> str:
    """A new UUIDv7: 48 bits of Unix milliseconds, then random bits; increasing within a process."""
    global _last
    with _lock:
        millis = time.time_ns() // 1_000_000
        rand = int.from_bytes(os.urandom(10), "big") >> 6  # 74 random bits: 12, then 62
        value = (millis << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
        if value <= _last:  # same millisecond (or the clock stepped back): after the last id, by a random step
            value = _last + 1 + (rand & 0xFFFFFFFF)
        _last = value
    return str(uuid.UUID(int=value))
