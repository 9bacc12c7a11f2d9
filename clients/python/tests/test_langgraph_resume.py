"""What a resumed LangGraph node accepts as an approval's outcome, checked without the stack: only a
decision whose receipt verifies, from the approvals service, for this approval, tenant, workflow and step."""

from __future__ import annotations

from typing import Any

import pytest

from quiet_topics import signed
from stepgate import ApprovalNotResolvedError, Decision, GateClient, GateClientSettings
from stepgate.langgraph import _resumed_outcome


@pytest.fixture
def parts(vectors: dict[str, Any]) -> tuple[GateClient, Decision, dict[str, Any]]:
    keys = vectors["keys"]
    client = GateClient(
        GateClientSettings(
            brokers="127.0.0.1:9092",
            key_id=keys["orchestrator"]["key_id"],
            private_key_pem=keys["orchestrator"]["private_key_pem"],
            receipt_public_keys={keys["receipts"]["key_id"]: keys["receipts"]["public_key_pem"]},
        )
    )
    pending = Decision.from_wire(vectors["decisions"]["valid"][0]["decision"])
    body = {k: v for k, v in pending.raw.items() if k not in ("receipt", "request_sha256", "requester_key_id")}
    outcome = {
        **body,
        "decision": "allow",
        "decision_source": "approval",
        "approval_status": "approved",
        "approved_by": "alice",
        "workflow_id": body["workflow_id"].upper(),  # workflow ids are case-insensitive
    }
    return client, pending, outcome


def sign(vectors: dict[str, Any], body: dict[str, Any], key: str = "receipts") -> dict[str, Any]:
    k = vectors["keys"][key]
    return signed(body, vectors["keys"]["receipts"]["key_id"], k["private_key_pem"])


def test_a_verified_outcome_of_this_approval_is_accepted(vectors: dict[str, Any], parts: Any) -> None:
    client, pending, outcome = parts
    assert _resumed_outcome(client, pending, sign(vectors, outcome)).decision == "allow"


@pytest.mark.parametrize(
    "change",
    [
        {"approval_id": "00000000-0000-5000-8000-000000000000"},
        {"tenant_id": "globex"},
        {"step_id": "another-step"},
        {"workflow_id": "another-workflow"},
        {"decision_source": "fresh"},
    ],
)
def test_an_outcome_for_something_else_is_refused(vectors: dict[str, Any], parts: Any, change: dict[str, Any]) -> None:
    client, pending, outcome = parts
    with pytest.raises(ApprovalNotResolvedError):
        _resumed_outcome(client, pending, sign(vectors, {**outcome, **change}))


def test_a_forged_or_malformed_outcome_is_refused(vectors: dict[str, Any], parts: Any) -> None:
    client, pending, outcome = parts
    for resumed in [
        sign(vectors, outcome, key="other"),
        {**sign(vectors, {**outcome, "decision": "block"}), "decision": "allow"},
        {**outcome, "receipt": "nope"},
        "approved",
        None,
    ]:
        with pytest.raises(ApprovalNotResolvedError):
            _resumed_outcome(client, pending, resumed)
