"""Typed decisions (``gate.decisions``) and the step a gate request describes."""

from __future__ import annotations

from typing import Any, Literal, Required, TypedDict

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

DecisionValue = Literal["allow", "block", "require_approval"]
GateErrorCode = Literal[
    "INVALID_REQUEST",
    "UNAUTHENTICATED",
    "TENANT_MISMATCH",
    "STALE_REQUEST",
    "IDEMPOTENCY_KEY_MISMATCH",
    "STEP_INPUT_MISMATCH",
    "WORKFLOW_TERMINAL",
    "APPROVAL_PENDING",
    "NO_POLICY_BUNDLE",
    "INVALID_POLICY_BUNDLE",
    "ENGINE_ERROR",
    "REQUEST_ID_CONFLICT",
    "REPLY_TO_NOT_ALLOWED",
    "KILL_SWITCH",
    "APPROVAL_UNAVAILABLE",
]
"""Every ``error.code`` a decision may carry (``GATE_ERROR_CODES`` in the contract; the shared vectors list them)."""


class _Wire(BaseModel):
    # Strict: a wrong type is not a decision (no "1" -> 1 coercion). Unknown fields are kept out of the
    # model but stay in the raw document the receipt is verified over.
    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")


class PolicyRef(_Wire):
    policy_id: str
    policy_name: str
    action: DecisionValue
    reason: str
    severity: Literal["low", "medium", "high", "critical"] | None
    allow_override: bool | None


class RetryContext(_Wire):
    gate_count: int = Field(ge=0)
    completion_count: int = Field(ge=0)
    prior_completion_status: Literal["none", "completed", "gated_not_completed"]
    prior_output_available: bool
    last_decision: DecisionValue | None
    first_attempt_at: str | None
    last_attempt_at: str | None
    idempotency_key: str


class GateError(_Wire):
    code: GateErrorCode
    message: str
    details: Any = None


class Receipt(_Wire):
    key_id: str
    alg: Literal["Ed25519"]
    signature: str


class Decision(_Wire):
    """A decision whose receipt the client verified (unless verification was explicitly switched off)."""

    request_id: str
    decision_id: str
    tenant_id: str | None
    workflow_id: str | None
    step_id: str | None
    decision: DecisionValue
    reason: str
    policies_evaluated: list[PolicyRef]
    policies_matched: list[PolicyRef]
    approval_id: str | None = None
    approval_url: str | None = None
    approval_status: Literal["pending", "approved", "rejected", "expired"] | None = None
    approved_by: str | None = None
    approved_at: str | None = None
    retry_context: RetryContext | None
    decision_source: Literal["fresh", "cached", "approval"]
    error: GateError | None = None
    decided_at: str
    request_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    requester_key_id: str | None = None
    receipt: Receipt

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Decision:
        d = cls.model_validate(raw)
        d._raw = raw
        return d

    @property
    def raw(self) -> dict[str, Any]:
        """The document as published: what the receipt signs (with any field this version does not know)."""
        return self._raw

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"


class ToolContext(TypedDict, total=False):
    tool_name: Required[str]
    tool_type: Literal["function", "mcp", "api"]
    tool_input: dict[str, Any]


class ReplyTo(TypedDict, total=False):
    temporal_workflow_id: Required[str]
    temporal_namespace: str
    signal_name: str


class GateStep(TypedDict, total=False):
    """The step fields an orchestrator supplies; ``request_id`` and ``requested_at`` are filled in."""

    workflow_id: Required[str]
    step_id: Required[str]
    step_type: Required[Literal["llm_call", "tool_call", "connector_call", "human_task"]]
    request_id: str
    workflow_name: str
    source: str
    step_name: str
    step_index: int
    model: str
    provider: str
    tokens_in: int
    tokens_out: int
    cost_usd: float
    step_input: dict[str, Any]
    tool_context: ToolContext
    agent_id: str
    session_id: str
    user_id: str
    execution_mode: Literal["interactive", "background"]
    retry_policy: Literal["idempotent", "reevaluate"]
    idempotency_key: str
    reply_to: ReplyTo
    tenant_id: str


class StepCompletion(TypedDict, total=False):
    workflow_id: Required[str]
    step_id: Required[str]
    output: Any
    tokens_in: int
    tokens_out: int
    cost_usd: float
    idempotency_key: str


__all__ = [
    "Decision",
    "DecisionValue",
    "GateError",
    "GateErrorCode",
    "GateStep",
    "PolicyRef",
    "Receipt",
    "ReplyTo",
    "RetryContext",
    "StepCompletion",
    "ToolContext",
]
