"""GateClient against the real evaluator and approvals service (every decision path, approvals, refusals)."""

from __future__ import annotations

import asyncio

import pytest

from conftest import Stack
from stepgate import (
    GateClient,
    GateRefusedError,
    GateTimeoutError,
    ReceiptKeysRequiredError,
    ReceiptKeysUnavailableError,
    UnencodableValueError,
    action_digest,
)


def test_allow(client: GateClient, step_id: str) -> None:
    d = client.gate({"workflow_id": "py-wf", "step_id": step_id, "step_type": "llm_call", "model": "claude"})
    assert d.decision == "allow"
    assert d.step_id == step_id and d.decision_source == "fresh"
    assert client.verifies(d)


def test_block_by_policy(client: GateClient, step_id: str) -> None:
    d = client.gate(
        {
            "workflow_id": "py-wf",
            "step_id": step_id,
            "step_type": "tool_call",
            "tool_context": {"tool_name": "sql_query", "tool_input": {"query": "DROP TABLE users"}},
        }
    )
    assert d.decision == "block"
    assert d.error is None
    assert [p.policy_name for p in d.policies_matched] == ["block-dangerous-sql"]


def test_refusal_is_a_typed_error_with_the_wire_code(client: GateClient, step_id: str) -> None:
    with pytest.raises(GateRefusedError) as refused:
        client.gate({"workflow_id": "py-wf", "step_id": step_id, "step_type": "teleport"})  # type: ignore[typeddict-item]
    assert refused.value.code == "INVALID_REQUEST"
    with pytest.raises(GateRefusedError) as spoofed:
        client.gate({"workflow_id": "py-wf", "step_id": step_id + "x", "step_type": "llm_call", "tenant_id": "globex"})
    assert spoofed.value.code == "TENANT_MISMATCH"


def test_text_postgres_cannot_store_is_refused_by_field(client: GateClient, step_id: str) -> None:
    # A lone surrogate has no UTF-8 form: refused here, naming the field, before anything is sent.
    with pytest.raises(UnencodableValueError) as unencodable:
        client.gate(
            {
                "workflow_id": "py-wf",
                "step_id": step_id,
                "step_type": "tool_call",
                "tool_context": {"tool_name": "sql_query", "tool_input": {"query": "select \ud800"}},
            }
        )
    assert (unencodable.value.code, unencodable.value.path) == ("INVALID_REQUEST", "tool_context.tool_input.query")
    # A NUL is JSON (escaped): the evaluator refuses it naming the path, filed under the signer's tenant,
    # so the client takes it as its answer at once (not a mismatch at the deadline).
    with pytest.raises(GateRefusedError) as nul:
        client.gate({"workflow_id": "py-wf", "step_id": step_id, "step_type": "llm_call", "model": "claude\u0000"})
    assert nul.value.code == "INVALID_REQUEST"
    assert "model: contains a NUL character" in str(nul.value)


def test_require_approval_then_approved(client: GateClient, stack: Stack, step_id: str) -> None:
    step = {
        "workflow_id": f"py-approve-{step_id}",
        "step_id": step_id,
        "step_type": "connector_call",
        "step_name": "deploy",
    }
    pending = client.gate(step)  # type: ignore[arg-type]
    assert pending.decision == "require_approval" and pending.approval_status == "pending"
    assert pending.approval_id and pending.approval_url
    # The action digest computed here from the request and the decision is the one the approval holds.
    digest = action_digest(
        tenant_id=stack.tenant_id,
        workflow_id=step["workflow_id"],
        step_id=step_id,
        step_type=step["step_type"],
        step_name=step["step_name"],
        policies_matched=pending.raw["policies_matched"],
        request={},
        decision_id=pending.raw["decision_id"],
    )
    assert digest == stack.approval_state(pending.approval_id)["action_digest"]
    stack.decide_approval(pending.approval_id, "approve", digest)
    outcome = client.wait_for_approval(pending)
    assert (outcome.decision, outcome.decision_source, outcome.approval_status) == ("allow", "approval", "approved")
    assert outcome.approved_by == "alice"
    again = client.gate(step)  # type: ignore[arg-type]
    assert (again.decision, again.decision_source) == ("allow", "cached")
    client.complete({"workflow_id": step["workflow_id"], "step_id": step_id, "output": {"ok": True}})


def test_gate_waits_through_approval_to_a_rejection(client: GateClient, stack: Stack, step_id: str) -> None:
    import threading

    workflow_id = f"py-reject-{step_id}"
    step = {"workflow_id": workflow_id, "step_id": step_id, "step_type": "connector_call", "step_name": "deploy"}

    def reject_when_pending() -> None:
        from stepgate import approval_id_for

        stack.decide_approval(approval_id_for(stack.tenant_id, workflow_id, step_id), "reject")

    threading.Thread(target=reject_when_pending, daemon=True).start()
    outcome = client.gate(step, wait_for_approval=True)  # type: ignore[arg-type]
    assert (outcome.decision, outcome.approval_status) == ("block", "rejected")
    with pytest.raises(GateRefusedError) as terminal:
        client.gate({**step, "step_id": step_id + "-next"})  # type: ignore[typeddict-item]
    assert terminal.value.code == "WORKFLOW_TERMINAL"


def test_approval_wait_times_out(client: GateClient, step_id: str) -> None:
    step = {
        "workflow_id": f"py-wait-{step_id}",
        "step_id": step_id,
        "step_type": "connector_call",
        "step_name": "deploy",
    }
    pending = client.gate(step)  # type: ignore[arg-type]
    with pytest.raises(GateTimeoutError) as timeout:
        client.wait_for_approval(pending, timeout_s=0.5)
    assert (timeout.value.code, timeout.value.waiting_for) == ("GATE_TIMEOUT", "approval")


def test_published_receipt_keys(stack: Stack, step_id: str) -> None:
    settings = stack.settings(receipt_public_keys=None, receipt_keys_url=stack.receipt_keys_url)
    with GateClient(settings) as c:
        assert c.gate({"workflow_id": "py-wf", "step_id": step_id, "step_type": "llm_call"}).decision == "allow"


def test_receipt_keys_are_required_and_fetched_only_over_https_or_loopback(stack: Stack) -> None:
    with pytest.raises(ReceiptKeysRequiredError) as required:
        GateClient(stack.settings(receipt_public_keys=None))
    assert required.value.code == "RECEIPT_KEYS_REQUIRED"
    remote = stack.settings(receipt_public_keys=None, receipt_keys_url="http://evaluator.example:9464/receipt-keys")
    with pytest.raises(ReceiptKeysUnavailableError):
        GateClient(remote).connect()


def test_async_variant(client: GateClient, step_id: str) -> None:
    d = asyncio.run(client.agate({"workflow_id": "py-wf", "step_id": step_id, "step_type": "llm_call"}))
    assert d.decision == "allow"
