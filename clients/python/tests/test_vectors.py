"""The shared vectors (packages/contracts/test/vectors/stepgate-vectors.json), also asserted by the TypeScript tests."""

from __future__ import annotations

import hashlib
import json
from typing import Any, get_args

import pytest

from stepgate import (
    InvalidTenantIdError,
    ReceiptKeys,
    action_digest,
    approval_id_for,
    approval_statement_bytes,
    canonical_json,
    has_tenant_decision_topic,
    load_private_key,
    load_public_key,
    sign_bytes,
    tenant_decision_topic,
    verify_bytes,
)
from stepgate.canonical import MAX_VALUE_BYTES
from stepgate.local_refusals import MAX_ANSWERABLE_ID_CHARS, MAX_ECHO_CHARS, answerable_id
from stepgate.models import Decision, GateErrorCode
from stepgate.settings import KEY_ID_PATTERN


def test_gate_error_codes(vectors: dict[str, Any]) -> None:
    # A code missing here would make every decision carrying it undecodable (ignored, never answered).
    assert list(get_args(GateErrorCode)) == vectors["gate_error_codes"]


def test_limits_and_request_ids_checked_before_sending(vectors: dict[str, Any]) -> None:
    # The client refuses locally what the evaluator could not answer to it: the same limits and ids.
    assert vectors["limits"] == {
        "max_value_bytes": MAX_VALUE_BYTES,
        "max_echo_chars": MAX_ECHO_CHARS,
        "max_answerable_id_chars": MAX_ANSWERABLE_ID_CHARS,
        "key_id_pattern": f"^{KEY_ID_PATTERN.pattern}$",
    }
    for case in vectors["request_ids"]:
        assert answerable_id(case["id"]) is case["answerable"], case["id"]


def test_canonical_json(vectors: dict[str, Any]) -> None:
    for case in vectors["canonical_json"]:
        assert canonical_json(json.loads(case["input"])).decode() == case["canonical"], case["input"]


def test_request_signatures_and_hashes(vectors: dict[str, Any]) -> None:
    orchestrator = vectors["keys"]["orchestrator"]
    private, public = load_private_key(orchestrator["private_key_pem"]), load_public_key(orchestrator["public_key_pem"])
    for r in vectors["requests"]:
        value = r["value_utf8"].encode()
        assert sign_bytes(private, value) == r["signature"]
        assert verify_bytes(public, value, r["signature"])
        assert not verify_bytes(public, value + b" ", r["signature"])
        assert hashlib.sha256(value).hexdigest() == r["sha256"]


def test_receipts_verify_and_tampered_ones_do_not(vectors: dict[str, Any]) -> None:
    keys = ReceiptKeys.from_key_set(vectors["receipt_keys"])
    for case in vectors["decisions"]["valid"]:
        Decision.from_wire(case["decision"])
        assert keys.verifies(case["decision"]), case["name"]
    for case in vectors["decisions"]["invalid"]:
        assert not keys.verifies(case["decision"]), case["name"]


def test_approval_ids(vectors: dict[str, Any]) -> None:
    for a in vectors["approval_ids"]:
        assert approval_id_for(a["tenant_id"], a["workflow_id"], a["step_id"]) == a["approval_id"]


def test_action_digests_and_statements(vectors: dict[str, Any]) -> None:
    for d in vectors["action_digests"]:
        assert action_digest(**d["input"]) == d["digest"]
    approver = load_private_key(vectors["keys"]["approver"]["private_key_pem"])
    for s in vectors["approval_statements"]:
        data = approval_statement_bytes(s["statement"])
        assert data.decode() == s["canonical"]
        assert sign_bytes(approver, data) == s["signature"]


def test_tenant_decision_topics(vectors: dict[str, Any]) -> None:
    for t in vectors["tenant_decision_topics"]:
        assert has_tenant_decision_topic(t["tenant_id"]) is (t["topic"] is not None), repr(t["tenant_id"])
        if t["topic"] is None:
            with pytest.raises(InvalidTenantIdError) as refused:
                tenant_decision_topic(t["tenant_id"], t["prefix"])
            assert refused.value.code == "INVALID_TENANT_ID"
        else:
            assert tenant_decision_topic(t["tenant_id"], t["prefix"]) == t["topic"]
