"""Request ids: UUIDv7 (RFC 9562), time-ordered, so the ledger's indexes on request ids grow at their
right edge instead of changing a random page per request (each page's first change after a Postgres
checkpoint writes the whole page to the WAL)."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_millis = 0
_last_rand = 0
_RAND_BITS = 74  # 12 after the version, 62 after the variant


def new_request_id() -> str:
    """A new UUIDv7: 48 bits of Unix milliseconds, then 74 random bits; increasing within a process
    (in one millisecond, or if the clock steps back, the random part counts up from the last id's:
    RFC 9562's monotonic random method)."""
    global _last_millis, _last_rand
    with _lock:
        millis = time.time_ns() // 1_000_000
        if millis > _last_millis:
            # The top random bit starts clear, so that counting up within a millisecond has room.
            rand = int.from_bytes(os.urandom(10), "big") >> (80 - _RAND_BITS + 1)
        else:
            millis = _last_millis
            rand = _last_rand + 1 + (int.from_bytes(os.urandom(2), "big"))
            if rand >> _RAND_BITS:  # the counter ran out: the next millisecond
                millis += 1
                rand = int.from_bytes(os.urandom(10), "big") >> (80 - _RAND_BITS + 1)
        _last_millis, _last_rand = millis, rand
        value = (
            ((millis & ((1 << 48) - 1)) << 80)
            | (0x7 << 76)
            | ((rand >> 62) << 64)
            | (0b10 << 62)
            | (rand & ((1 << 62) - 1))
        )
    return str(uuid.UUID(int=value))
