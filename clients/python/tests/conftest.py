"""Fixtures. The stack tests need what test/python-client.int.test.ts sets up and passes in the environment
(it runs this suite under `npm test`): without it they are skipped, unless STEPGATE_TEST_REQUIRE_STACK=1."""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest

from stepgate import ApprovalStatement, GateClient, GateClientSettings, load_private_key, sign_approval_statement

VECTORS = Path(__file__).resolve().parents[3] / "packages" / "contracts" / "test" / "vectors" / "stepgate-vectors.json"


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    return json.loads(VECTORS.read_text())  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Stack:
    brokers: str
    topic_prefix: str
    quiet_prefix: str
    """Topics no evaluator reads: tests answer requests there themselves (forged, tampered, misdirected)."""
    key_file: str
    approver_key_file: str
    tenant_id: str
    receipt_key_id: str
    receipt_public_key_pem: str
    receipt_private_key_pem: str
    receipt_keys_url: str
    control_url: str

    def settings(self, **overrides: Any) -> GateClientSettings:
        base = GateClientSettings.from_key_file(
            self.key_file,
            brokers=self.brokers,
            topic_prefix=self.topic_prefix,
            receipt_public_keys={self.receipt_key_id: self.receipt_public_key_pem},
            timeout_s=20,
        )
        return replace(base, **overrides)

    def approval_state(self, approval_id: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.control_url}/status/{approval_id}", timeout=60) as res:
            return json.loads(res.read())  # type: ignore[no-any-return]

    def decide_approval(
        self, approval_id: str, decision: Literal["approve", "reject"], action_digest: str | None = None
    ) -> dict[str, Any]:
        """Approves or rejects with a statement signed here, in Python, by approver alice; the approvals
        workflow verifies it. ``action_digest``: the digest computed here (default: the approval's)."""
        digest = action_digest or self.approval_state(approval_id)["action_digest"]
        cred = json.loads(Path(self.approver_key_file).read_text())
        statement: ApprovalStatement = {
            "approval_id": approval_id,
            "action_digest": digest,
            "decision": decision,
            "comment_or_reason": f"{decision}d by the Python client's tests",
            "signed_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "key_id": cred["key_id"],
        }
        signed = sign_approval_statement(statement, load_private_key(cred["private_key_pem"]))
        req = urllib.request.Request(
            f"{self.control_url}/submit/{approval_id}",
            data=json.dumps({"decision": decision, "signed": signed}).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=60) as res:
            return json.loads(res.read())  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def stack() -> Stack:
    env = os.environ
    if "STEPGATE_TEST_BROKERS" not in env:
        if env.get("STEPGATE_TEST_REQUIRE_STACK") == "1":
            pytest.fail("STEPGATE_TEST_REQUIRE_STACK=1 but the stack's settings are not in the environment")
        pytest.skip("no stack: run through test/python-client.int.test.ts (npm test)")
    return Stack(
        brokers=env["STEPGATE_TEST_BROKERS"],
        topic_prefix=env["STEPGATE_TEST_TOPIC_PREFIX"],
        quiet_prefix=env["STEPGATE_TEST_QUIET_PREFIX"],
        key_file=env["STEPGATE_TEST_KEY_FILE"],
        approver_key_file=env["STEPGATE_TEST_APPROVER_KEY_FILE"],
        tenant_id=env["STEPGATE_TEST_TENANT"],
        receipt_key_id=env["STEPGATE_TEST_RECEIPT_KEY_ID"],
        receipt_public_key_pem=env["STEPGATE_TEST_RECEIPT_PUBLIC_KEY_PEM"],
        receipt_private_key_pem=env["STEPGATE_TEST_RECEIPT_PRIVATE_KEY_PEM"],
        receipt_keys_url=env["STEPGATE_TEST_RECEIPT_KEYS_URL"],
        control_url=env["STEPGATE_TEST_CONTROL_URL"],
    )


@pytest.fixture(scope="session")
def client(stack: Stack) -> Iterator[GateClient]:
    with GateClient(stack.settings()) as c:
        yield c


@pytest.fixture
def step_id() -> str:
    return f"s-{uuid.uuid4()}"
