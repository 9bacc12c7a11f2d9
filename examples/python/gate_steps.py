"""Gate three steps of an agent's release workflow from Python: an allowed LLM call, a blocked destructive
SQL call, and a deploy that waits for a human.

    npm run dev                                   # in one terminal
    python examples/python/gate_steps.py          # in another (pip install clients/python first)
"""

from __future__ import annotations

import uuid

from dev_settings import approve_command, dev_settings

from stepgate import GateClient, GateRefusedError


def main() -> None:
    workflow_id = f"py-release-{uuid.uuid4().hex[:8]}"
    with GateClient(dev_settings()) as client:
        llm = client.gate(
            {
                "workflow_id": workflow_id,
                "step_id": "summarize",
                "step_type": "llm_call",
                "model": "claude-sonnet",
                "step_input": {"ticket": "REL-42"},
            }
        )
        print(f"summarize: {llm.decision} ({llm.reason})")
        client.complete({"workflow_id": workflow_id, "step_id": "summarize", "output": {"summary": "ship it"}})

        sql = client.gate(
            {
                "workflow_id": workflow_id,
                "step_id": "clean-up",
                "step_type": "tool_call",
                "tool_context": {"tool_name": "sql_query", "tool_input": {"query": "DROP TABLE orders"}},
            }
        )
        print(f"clean-up: {sql.decision} by {[p.policy_name for p in sql.policies_matched]}")

        deploy_step = {
            "workflow_id": workflow_id,
            "step_id": "deploy",
            "step_type": "connector_call",
            "step_name": "deploy-to-production",
        }
        deploy = client.gate(deploy_step)  # type: ignore[arg-type]
        if deploy.decision == "require_approval" and deploy.approval_id:
            print(f"deploy: waiting for approval {deploy.approval_id}; in another terminal:")
            print(f"  {approve_command(deploy.approval_id)}")
            deploy = client.wait_for_approval(deploy, timeout_s=600)
        print(f"deploy: {deploy.decision} ({deploy.approval_status}, by {deploy.approved_by})")
        try:
            announce = client.gate({"workflow_id": workflow_id, "step_id": "announce", "step_type": "llm_call"})
            print(f"announce: {announce.decision}")
        except GateRefusedError as refused:  # after a rejection the workflow is terminal
            print(f"announce: refused, {refused.code}")


if __name__ == "__main__":
    main()
