"""Gating Airflow tasks: ``StepGateOperator`` gates a step and, on ``require_approval``, defers to
``StepGateApprovalTrigger`` until a human decides (or waits in the worker with ``deferrable=False``).

Put it upstream of the task it governs: ``gate >> deploy``. ``allow`` succeeds (the decision is the
task's XCom value), ``block`` and refusals fail the task without retries (``AirflowFailException``).
The worker and the triggerer build their client from the environment (``GateClientSettings.from_env``:
``STEPGATE_KEY_FILE``, ``KAFKA_BROKERS``, ``STEPGATE_RECEIPT_KEYS_URL``, …).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

from airflow.exceptions import AirflowFailException
from airflow.triggers.base import BaseTrigger, TriggerEvent

try:  # Airflow 3
    from airflow.sdk import BaseOperator
except ImportError:  # Airflow 2
    from airflow.models import BaseOperator

from .client import GateClient, decision_from_resume
from .errors import StepGateError
from .models import Decision, GateStep
from .settings import GateClientSettings

# The trigger replays gate.decisions from a little before the require_approval decision, so an outcome
# published while the task was handing over to the triggerer is not missed (clock skew between hosts).
REPLAY_MARGIN = timedelta(seconds=5)

SettingsFactory = Callable[[], GateClientSettings]


def _parse_instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


class StepGateApprovalTrigger(BaseTrigger):
    """Waits (in the triggerer) for the outcome of the approval a ``require_approval`` decision names."""

    def __init__(self, decision: dict[str, Any], timeout_s: float) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.decision = decision
        self.timeout_s = timeout_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{__name__}.StepGateApprovalTrigger",
            {"decision": self.decision, "timeout_s": self.timeout_s},
        )

    def _wait(self) -> Decision:
        pending = decision_from_resume(self.decision)
        since = _parse_instant(pending.decided_at) - REPLAY_MARGIN
        with GateClient(GateClientSettings.from_env(), replay_from=since) as client:
            return client.wait_for_approval(pending, timeout_s=self.timeout_s)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            outcome = await asyncio.to_thread(self._wait)
        except StepGateError as err:
            yield TriggerEvent({"status": "error", "code": err.code, "message": str(err)})  # type: ignore[no-untyped-call]
            return
        yield TriggerEvent({"status": "decided", "decision": outcome.raw})  # type: ignore[no-untyped-call]


class StepGateOperator(BaseOperator):
    """Gates ``step`` (templated) before the tasks downstream of it run."""

    template_fields = ("step",)

    def __init__(
        self,
        *,
        step: GateStep,
        approval_timeout: timedelta = timedelta(hours=24),
        deferrable: bool = True,
        settings: SettingsFactory = GateClientSettings.from_env,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.step = step
        self.approval_timeout = approval_timeout
        self.deferrable = deferrable
        self.settings = settings

    def execute(self, context: Any) -> dict[str, Any]:
        with GateClient(self.settings()) as client:
            try:
                decision = client.gate(self.step)
                if decision.decision == "require_approval" and not self.deferrable:
                    decision = client.wait_for_approval(decision, timeout_s=self.approval_timeout.total_seconds())
            except StepGateError as err:
                raise AirflowFailException(f"stepgate: {err.code}: {err}") from err
        if decision.decision == "require_approval":
            self.log.info(
                "step %s waits for approval %s %s",
                decision.step_id,
                decision.approval_id,
                decision.approval_url or "",
            )
            self.defer(
                trigger=StepGateApprovalTrigger(decision.raw, self.approval_timeout.total_seconds()),
                method_name="execute_complete",
                # What the outcome must name on resume: the trigger's event alone could be another round's.
                kwargs={"approval_id": decision.approval_id, "tenant_id": decision.tenant_id},
                timeout=self.approval_timeout + timedelta(minutes=1),
            )
        return self._finish(decision)

    def execute_complete(
        self,
        context: Any,
        event: dict[str, Any],
        approval_id: str | None = None,
        tenant_id: str | None = None,
    ) -> dict[str, Any]:
        """Back from the trigger: the outcome is checked again here (receipt, approval id, tenant, step) before
        use. ``approval_id`` and ``tenant_id`` are what the deferral recorded; without them nothing resumes."""
        if event.get("status") != "decided":
            raise AirflowFailException(f"stepgate: {event.get('code')}: {event.get('message')}")
        outcome = decision_from_resume(event["decision"])
        client = GateClient(self.settings())
        client.load_receipt_keys()
        if not client.verifies(outcome) or outcome.decision_source != "approval":
            raise AirflowFailException("stepgate: the approval outcome's receipt does not verify")
        if (
            outcome.step_id != self.step["step_id"]
            or (outcome.workflow_id or "").lower() != self.step["workflow_id"].lower()
        ):
            raise AirflowFailException("stepgate: the approval outcome is not this step's")
        if (
            approval_id is None
            or tenant_id is None
            or outcome.approval_id != approval_id
            or outcome.tenant_id != tenant_id
        ):
            raise AirflowFailException("stepgate: the approval outcome is not this deferral's approval")
        return self._finish(outcome)

    def _finish(self, decision: Decision) -> dict[str, Any]:
        if decision.decision != "allow":
            raise AirflowFailException(f"stepgate blocked step {decision.step_id}: {decision.reason}")
        return decision.raw
