"""The Airflow operator through its hook API, without a scheduler: execute() gates (and defers on
require_approval), the trigger runs as the triggerer would run it (serialised, then re-created), and
execute_complete() checks the outcome it hands back."""

from __future__ import annotations

import asyncio
import importlib
import os
import uuid
from typing import Any, cast

import pytest

from conftest import Stack
from stepgate import GateStep

if os.environ.get("STEPGATE_TEST_REQUIRE_STACK") != "1":
    pytest.importorskip("airflow")

from airflow.exceptions import AirflowFailException, TaskDeferred

from stepgate.airflow import StepGateApprovalTrigger, StepGateOperator


@pytest.fixture(autouse=True)
def client_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # What a worker and a triggerer would be configured with; the published receipt keys, fetched and pinned.
    monkeypatch.setenv("STEPGATE_KEY_FILE", stack.key_file)
    monkeypatch.setenv("KAFKA_BROKERS", stack.brokers)
    monkeypatch.setenv("STEPGATE_TOPIC_PREFIX", stack.topic_prefix)
    monkeypatch.setenv("STEPGATE_RECEIPT_KEYS_URL", stack.receipt_keys_url)


def step(step_name: str = "deploy", **extra: Any) -> GateStep:
    base: GateStep = {
        "workflow_id": f"py-airflow-{uuid.uuid4()}",
        "step_id": "gate",
        "step_type": "connector_call",
        "step_name": step_name,
    }
    return cast(GateStep, {**base, **extra})


async def first_event(trigger: StepGateApprovalTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return event.payload  # type: ignore[no-any-return]
    raise AssertionError("the trigger yielded nothing")


def test_allow_succeeds_with_the_decision() -> None:
    result = StepGateOperator(task_id="gate", step=step("report")).execute({})
    assert result["decision"] == "allow"


def test_block_fails_the_task() -> None:
    s = step(
        "query", step_type="tool_call", tool_context={"tool_name": "sql_query", "tool_input": {"query": "drop table x"}}
    )
    with pytest.raises(AirflowFailException, match="blocked"):
        StepGateOperator(task_id="gate", step=s).execute({})


Deferred = tuple[StepGateOperator, dict[str, Any], dict[str, Any]]


def run_deferred(stack: Stack, decision: str) -> Deferred:
    """The operator, the trigger's event, and the kwargs the deferral hands back to execute_complete."""
    op = StepGateOperator(task_id="gate", step=step())
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    assert deferred.value.method_name == "execute_complete"
    classpath, kwargs = deferred.value.trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    trigger = getattr(importlib.import_module(module), name)(**kwargs)
    # The human decides before the triggerer starts waiting: the trigger replays from the decision's time.
    stack.decide_approval(kwargs["decision"]["approval_id"], decision)  # type: ignore[arg-type]
    return op, asyncio.run(first_event(trigger)), dict(deferred.value.kwargs or {})


def test_require_approval_defers_and_an_approval_lets_the_task_succeed(stack: Stack) -> None:
    op, event, resume = run_deferred(stack, "approve")
    assert event["status"] == "decided"
    assert resume["approval_id"] == event["decision"]["approval_id"]
    assert op.execute_complete({}, event, **resume)["approval_status"] == "approved"


def test_a_rejection_fails_the_task(stack: Stack) -> None:
    op, event, resume = run_deferred(stack, "reject")
    with pytest.raises(AirflowFailException, match="blocked"):
        op.execute_complete({}, event, **resume)


def test_an_event_with_a_forged_outcome_fails_the_task(stack: Stack) -> None:
    op, event, resume = run_deferred(stack, "reject")
    forged = {**event, "decision": {**event["decision"], "decision": "allow", "approval_status": "approved"}}
    with pytest.raises(AirflowFailException, match="does not verify"):
        op.execute_complete({}, forged, **resume)


@pytest.mark.parametrize(
    "deferral",
    [
        {"approval_id": "appr-another-round"},
        {"tenant_id": "another-tenant"},
        {"approval_id": None},
    ],
)
def test_a_replayed_verified_outcome_of_another_approval_fails_the_task(stack: Stack, deferral: dict[str, Any]) -> None:
    # A verified, approved outcome for this very step, handed back to a deferral that waits on another
    # approval (or tenant), or one that recorded none: refused, not resumed.
    op, event, resume = run_deferred(stack, "approve")
    with pytest.raises(AirflowFailException, match="not this deferral's approval"):
        op.execute_complete({}, event, **{**resume, **deferral})
