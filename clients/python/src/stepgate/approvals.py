"""Approval ids, action digests and approval statements, byte for byte as ``@stepgate/contracts`` makes them."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any, Literal, TypedDict

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .canonical import canonical_json
from .signing import sign_bytes

APPROVAL_ID_NAMESPACE = uuid.UUID("c7d2a1f4-3b8e-5f60-9a1d-2e4b6c8f0a13")


def approval_id_for(tenant_id: str, workflow_id: str, step_id: str) -> str:
    """UUIDv5 of the JSON array ``[tenant, workflow, step]`` as JavaScript's ``JSON.stringify`` writes it."""
    name = json.dumps([tenant_id, workflow_id, step_id], ensure_ascii=False, separators=(",", ":"))
    return str(uuid.uuid5(APPROVAL_ID_NAMESPACE, name))


def action_digest(
    *,
    tenant_id: str,
    workflow_id: str,
    step_id: str,
    step_type: str,
    step_name: str | None,
    policies_matched: list[Any],
    request: dict[str, Any] | None,
    decision_id: str | None = None,
) -> str:
    """SHA-256 (hex) of the canonical JSON of what an approval is about (docs/wire-contract.md, Action digest).

    ``decision_id``: the decision that asks for the approval (version 2 of the digest, what evaluators
    send now); without it, version 1.
    """
    part = (
        None
        if request is None
        else {
            "model": request.get("model"),
            "provider": request.get("provider"),
            "step_input": request.get("step_input"),
            "tool_context": request.get("tool_context"),
        }
    )
    body: dict[str, Any] = {
        "v": 1 if decision_id is None else 2,
        **({} if decision_id is None else {"decision_id": decision_id}),
        "tenant_id": tenant_id,
        "workflow_id": workflow_id,
        "step_id": step_id,
        "step_type": step_type,
        "step_name": step_name,
        "policies_matched": policies_matched,
        "request": part,
    }
    return hashlib.sha256(canonical_json(body)).hexdigest()


class ApprovalStatement(TypedDict):
    approval_id: str
    action_digest: str
    decision: Literal["approve", "reject"]
    comment_or_reason: str
    signed_at: str
    key_id: str


def approval_statement_bytes(statement: ApprovalStatement) -> bytes:
    return canonical_json(dict(statement))


def sign_approval_statement(statement: ApprovalStatement, key: Ed25519PrivateKey) -> dict[str, Any]:
    """``{statement, signature}`` as the approval workflow's ``approve`` and ``reject`` updates take it."""
    return {"statement": dict(statement), "signature": sign_bytes(key, approval_statement_bytes(statement))}
