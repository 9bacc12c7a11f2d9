"""Ed25519 over exact bytes, base64url without padding (docs/wire-contract.md, Authentication)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from .canonical import canonical_json

SIGNATURE_ALG = "Ed25519"
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def load_private_key(pem: str) -> Ed25519PrivateKey:
    key = load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError("expected an Ed25519 private key (PKCS#8 PEM)")
    return key


def load_public_key(pem: str) -> Ed25519PublicKey:
    key = load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise TypeError("expected an Ed25519 public key (SPKI PEM)")
    return key


def sign_bytes(key: Ed25519PrivateKey, data: bytes) -> str:
    return base64.urlsafe_b64encode(key.sign(data)).rstrip(b"=").decode()


def verify_bytes(key: Ed25519PublicKey, data: bytes, signature: str) -> bool:
    if not _BASE64URL.fullmatch(signature):
        return False
    try:
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        key.verify(raw, data)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def verify_receipt(signed: Mapping[str, Any], key: Ed25519PublicKey) -> bool:
    """Whether ``signed["receipt"]`` is ``key``'s signature of the canonical JSON of everything else."""
    receipt = signed.get("receipt")
    if not isinstance(receipt, Mapping) or receipt.get("alg") != SIGNATURE_ALG:
        return False
    signature = receipt.get("signature")
    if not isinstance(signature, str):
        return False
    body = {k: v for k, v in signed.items() if k != "receipt"}
    try:
        data = canonical_json(body)
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        return False
    return verify_bytes(key, data, signature)
