"""Gating LangGraph nodes and tools.

``gate_step`` (or the ``gated`` decorator) gates before the work runs:

- ``allow``: the work runs;
- ``block``: ``StepBlockedError`` is raised (in a ``ToolNode`` with ``handle_tool_errors`` it becomes the
  tool's error message; elsewhere it stops the graph run);
- ``require_approval``: LangGraph's ``interrupt()`` pauses the graph with
  ``{"type": "stepgate.approval", "approval_id", "approval_url", "reason", "workflow_id", "step_id"}``.
  Resume it with ``Command(resume=outcome.raw)``, where ``outcome = client.wait_for_approval(decision)``.
  On resume the node runs again and re-gates the same step (an ``idempotent`` retry): once the approval
  is decided the services answer ``allow`` or ``block`` themselves; if the step is still pending, the
  resume value must be the outcome, and it is accepted only when its receipt verifies and it is this
  approval's (otherwise ``ApprovalNotResolvedError``). A resume value cannot approve anything by itself.
  After a rejection (or expiry) the services have aborted the workflow: the re-gate on resume raises
  ``GateRefusedError`` with code ``WORKFLOW_TERMINAL``, and the step does not run.

Requests the services refuse raise ``GateRefusedError`` (its ``code`` is the wire code); all of these
errors derive from ``StepGateError``.

Needs a checkpointer on the graph (``interrupt`` does), e.g. ``InMemorySaver``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from langgraph.types import interrupt

from .client import GateClient, decision_from_resume
from .errors import ApprovalNotResolvedError, StepBlockedError
from .models import Decision, GateStep

P = ParamSpec("P")
R = TypeVar("R")

APPROVAL_INTERRUPT_TYPE = "stepgate.approval"


def approval_interrupt_payload(decision: Decision) -> dict[str, Any]:
    return {
        "type": APPROVAL_INTERRUPT_TYPE,
        "approval_id": decision.approval_id,
        "approval_url": decision.approval_url,
        "reason": decision.reason,
        "workflow_id": decision.workflow_id,
        "step_id": decision.step_id,
        "decision": decision.raw,
    }


def _resumed_outcome(client: GateClient, pending: Decision, resumed: Any) -> Decision:
    if isinstance(resumed, Mapping) and "receipt" in resumed:
        try:
            outcome = decision_from_resume(resumed)
        except ValueError as err:
            raise ApprovalNotResolvedError(f"the resume value is not a decision: {err}") from err
        if (
            client.verifies(outcome)
            and outcome.decision_source == "approval"
            and outcome.approval_id == pending.approval_id
            and outcome.tenant_id == pending.tenant_id
            and outcome.step_id == pending.step_id
            and (outcome.workflow_id or "").lower() == (pending.workflow_id or "").lower()
        ):
            return outcome
    raise ApprovalNotResolvedError(
        f"approval {pending.approval_id} is still pending and the graph was resumed without its verified outcome"
    )


def gate_step(client: GateClient, step: GateStep, *, timeout_s: float | None = None) -> Decision:
    """Gates ``step`` inside a node; returns the ``allow`` decision or raises / interrupts (module docstring)."""
    decision = client.gate(step, timeout_s=timeout_s)
    if decision.decision == "require_approval":
        resumed = interrupt(approval_interrupt_payload(decision))
        decision = _resumed_outcome(client, decision, resumed)
    if decision.decision != "allow":
        raise StepBlockedError(decision)
    return decision


def gated(
    client: GateClient, step: Callable[P, GateStep], *, complete: bool = True
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorates a node or tool function: ``step`` builds the gate request from the same arguments; the
    function runs only when allowed, and its completion is reported (``complete=False`` turns that off)."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            request = step(*args, **kwargs)
            gate_step(client, request)
            result = fn(*args, **kwargs)
            if complete:
                client.complete({"workflow_id": request["workflow_id"], "step_id": request["step_id"]})
            return result

        return run

    return decorate
