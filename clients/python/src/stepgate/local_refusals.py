"""Gate requests the evaluator could not answer to their sender, refused before sending (as the TypeScript
client's ``localRefusal``): a ``request_id`` it cannot answer to (it goes to the dead-letter topic; any other
it answers, refusing one that is not a UUID under the signer's tenant), a value over ``MAX_VALUE_BYTES``
(refused whatever it holds), and a workflow or step id a refusal cannot echo (the decision would name none, and
the client would ignore it until its timeout). What else the evaluator refuses under the signer's tenant is left
to it: that refusal arrives as a decision."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .canonical import MAX_VALUE_BYTES
from .errors import RefusedLocallyError

# The longest string a refusal echoes from a request (MAX_ECHO_CHARS in the contract), in UTF-16 code units.
MAX_ECHO_CHARS = 255
# The longest id the evaluator answers to (MAX_ANSWERABLE_ID_CHARS in the contract), in UTF-16 code units.
MAX_ANSWERABLE_ID_CHARS = 128
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def local_refusal(request: Mapping[str, Any], value: bytes) -> RefusedLocallyError | None:
    """Why the evaluator could not answer ``request`` (sent as the bytes ``value``) to this client, or None."""
    return (
        _request_id_refusal(request.get("request_id"))
        or size_refusal(value)
        or _echo_refusal("workflow_id", request.get("workflow_id"))
        or _echo_refusal("step_id", request.get("step_id"))
    )


def answerable_id(value: object) -> bool:
    """The contract's ``answerableId``: a non-empty echoable string of at most MAX_ANSWERABLE_ID_CHARS."""
    return isinstance(value, str) and 0 < _utf16_length(value) <= MAX_ANSWERABLE_ID_CHARS and _echoable(value)


def _request_id_refusal(request_id: object) -> RefusedLocallyError | None:
    if answerable_id(request_id):
        return None
    return RefusedLocallyError(
        "request_id",
        f"a non-empty string of at most {MAX_ANSWERABLE_ID_CHARS} UTF-16 code units without NUL characters or lone"
        " UTF-16 surrogates (new_request_id() makes one)",
        _described(request_id),
    )


# What to do about a completion too large to send.
COMPLETION_SIZE_HINT = (
    "; send a summary of ``output`` instead: the evaluator keeps only whether there was one, and a bounded summary"
)


def size_refusal(value: bytes, hint: str = "") -> RefusedLocallyError | None:
    """A message value over the cap: the evaluator refuses it whatever it holds (a completion, unseen)."""
    if len(value) <= MAX_VALUE_BYTES:
        return None
    return RefusedLocallyError(
        "(root)",
        f"a value of at most {MAX_VALUE_BYTES} bytes ({MAX_VALUE_BYTES // 1024} KiB) of UTF-8 JSON{hint}",
        f"{len(value)} bytes",
    )


def _echo_refusal(path: str, value: object) -> RefusedLocallyError | None:
    if _echoable(value):
        return None
    return RefusedLocallyError(
        path,
        f"a string of at most {MAX_ECHO_CHARS} UTF-16 code units without NUL characters or lone UTF-16 surrogates",
        _described(value),
    )


def _utf16_length(text: str) -> int:
    # The contract counts JavaScript string length: a character beyond U+FFFF is two.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _echoable(value: object) -> bool:
    """The contract's ``echoable``: a string of at most MAX_ECHO_CHARS without a NUL or a lone surrogate."""
    return (
        isinstance(value, str)
        and _utf16_length(value) <= MAX_ECHO_CHARS
        and "\x00" not in value
        and _LONE_SURROGATE.search(value) is None
    )


def _described(value: object) -> str:
    """What a refused value was, bounded: never the caller's string at its own length, nor a NUL or surrogate."""
    if value is None:
        return "nothing"
    if not isinstance(value, str):
        return f"a value of type {type(value).__name__}"
    if "\x00" in value:
        return "a string that contains a NUL character (\\u0000), which stepgate does not accept"
    if _LONE_SURROGATE.search(value):
        return "a string that contains a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape)"
    if _utf16_length(value) > MAX_ECHO_CHARS:
        return f"a string of {_utf16_length(value)} characters"
    return json.dumps(value if len(value) <= 80 else f"{value[:80]}… ({len(value)} characters)", ensure_ascii=False)
