"""Receipt keys: configured by key id (and/or one fallback key), or fetched once from ``/receipt-keys`` and pinned."""

from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .errors import ReceiptKeysUnavailableError
from .signing import SIGNATURE_ALG, load_public_key, verify_receipt

MAX_KEY_SET_BYTES = 64 * 1024


class ReceiptKeys:
    """Checks receipts with the key their ``key_id`` names; a key id not listed falls back to ``fallback_pem``."""

    def __init__(self, by_key_id: Mapping[str, str] | None = None, fallback_pem: str | None = None) -> None:
        self._by_id: dict[str, Ed25519PublicKey] = {k: load_public_key(pem) for k, pem in (by_key_id or {}).items()}
        self._fallback = load_public_key(fallback_pem) if fallback_pem else None

    def __bool__(self) -> bool:
        return bool(self._by_id) or self._fallback is not None

    def verifies(self, signed: Mapping[str, Any]) -> bool:
        receipt = signed.get("receipt")
        key_id = receipt.get("key_id") if isinstance(receipt, Mapping) else None
        key = self._by_id.get(key_id) if isinstance(key_id, str) else None
        key = key or self._fallback
        return key is not None and verify_receipt(signed, key)

    @classmethod
    def from_key_set(cls, key_set: Any) -> ReceiptKeys:
        """From the published form ``{"keys": [{"key_id", "alg": "Ed25519", "public_key_pem"}]}``."""
        keys = key_set.get("keys") if isinstance(key_set, Mapping) else None
        if not isinstance(keys, list):
            raise ReceiptKeysUnavailableError("a receipt key set is {'keys': [...]}")
        by_id: dict[str, str] = {}
        for k in keys:
            if not (
                isinstance(k, Mapping)
                and isinstance(k.get("key_id"), str)
                and k["key_id"]
                and k.get("alg") == SIGNATURE_ALG
                and isinstance(k.get("public_key_pem"), str)
            ):
                raise ReceiptKeysUnavailableError("a receipt key is {key_id, alg: 'Ed25519', public_key_pem}")
            by_id[k["key_id"]] = k["public_key_pem"]
        return cls(by_id)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect could lead anywhere (https to http included): it is refused, never followed."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def fetch_receipt_keys(url: str, timeout_s: float = 10.0) -> ReceiptKeys:
    """The keys a service publishes at ``url``: https, or plain http only from this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not _loopback(parts.hostname or "")):
        raise ReceiptKeysUnavailableError(
            f"receipt keys at {url}: expected an https:// (or loopback http://) URL", "INSECURE_URL"
        )
    try:
        with _opener.open(url, timeout=timeout_s) as res:  # scheme checked above
            body = res.read(MAX_KEY_SET_BYTES + 1)
    except urllib.error.HTTPError as err:
        reason = "REDIRECT" if 300 <= err.code < 400 else "UNREACHABLE"
        raise ReceiptKeysUnavailableError(f"receipt keys at {url}: HTTP {err.code}", reason) from err
    except OSError as err:
        raise ReceiptKeysUnavailableError(f"receipt keys at {url}: {err}", "UNREACHABLE") from err
    if len(body) > MAX_KEY_SET_BYTES:
        raise ReceiptKeysUnavailableError(f"receipt keys at {url}: over {MAX_KEY_SET_BYTES} bytes", "TOO_LARGE")
    try:
        keys = ReceiptKeys.from_key_set(json.loads(body))
    except (ValueError, TypeError) as err:
        raise ReceiptKeysUnavailableError(f"receipt keys at {url}: {err}") from err
    if not keys:
        raise ReceiptKeysUnavailableError(f"receipt keys at {url}: the set is empty")
    return keys
