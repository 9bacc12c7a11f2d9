"""RFC 8785 canonical JSON (the bytes receipts and approval statements sign) and pre-parse limits."""

from __future__ import annotations

import json
from typing import Any

import rfc8785

MAX_JSON_DEPTH = 32
# The contract's cap on a message value (MAX_VALUE_BYTES, packages/contracts/src/limits.ts): the evaluator
# refuses a larger one (INVALID_REQUEST, under the signer's tenant when its signature verifies; over 1 MiB, dlq).
MAX_VALUE_BYTES = 256 * 1024


def canonical_json(value: Any) -> bytes:
    """The UTF-8 RFC 8785 form of a JSON value (integers beyond 2**53 are refused, as JavaScript cannot hold them)."""
    return rfc8785.dumps(value)


def json_text_depth(data: bytes, limit: int | None = None) -> int:
    """Nesting depth of JSON text read from its bytes, without parsing; stops once ``limit`` is passed."""
    depth = 0
    deepest = 0
    in_string = False
    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        if in_string:
            if b == 0x5C:
                i += 1
            elif b == 0x22:
                in_string = False
        elif b == 0x22:
            in_string = True
        elif b in (0x5B, 0x7B):
            depth += 1
            if depth > deepest:
                deepest = depth
                if limit is not None and deepest > limit:
                    return deepest
        elif b in (0x5D, 0x7D):
            depth -= 1
        i += 1
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(data: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Strict JSON: UTF-8, at most ``max_depth`` levels (checked before parsing), no NaN or Infinity."""
    if json_text_depth(data, max_depth) > max_depth:
        raise ValueError(f"nested deeper than {max_depth} levels")
    return json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
