"""A LangGraph graph of plain functions whose deploy node is gated: `require_approval` pauses the graph
(interrupt), and it resumes with the approval's outcome.

    npm run dev                                        # in one terminal
    python examples/python/langgraph_agent.py          # pip install "clients/python[langgraph]"
"""

from __future__ import annotations

import operator
import uuid
from typing import Annotated, Any, TypedDict

from dev_settings import approve_command, dev_settings
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from stepgate import Decision, GateClient, StepBlockedError
from stepgate.langgraph import gated


class State(TypedDict):
    workflow_id: str
    log: Annotated[list[str], operator.add]


def main() -> None:
    with GateClient(dev_settings()) as client:

        @gated(
            client,
            step=lambda state: {"workflow_id": state["workflow_id"], "step_id": "draft", "step_type": "llm_call"},
        )
        def draft(state: State) -> dict[str, Any]:
            return {"log": ["drafted the release notes"]}

        @gated(
            client,
            step=lambda state: {
                "workflow_id": state["workflow_id"],
                "step_id": "deploy",
                "step_type": "connector_call",
                "step_name": "deploy-to-production",
            },
        )
        def deploy(state: State) -> dict[str, Any]:
            return {"log": ["deployed to production"]}

        graph = StateGraph(State)
        graph.add_node("draft", draft)
        graph.add_node("deploy", deploy)
        graph.add_edge(START, "draft")
        graph.add_edge("draft", "deploy")
        graph.add_edge("deploy", END)
        app = graph.compile(checkpointer=InMemorySaver())

        workflow_id = f"py-graph-{uuid.uuid4().hex[:8]}"
        config: Any = {"configurable": {"thread_id": workflow_id}}
        result = app.invoke({"workflow_id": workflow_id, "log": []}, config)
        for pause in result.get("__interrupt__", []):
            approval = pause.value
            print(f"paused: {approval['reason']}; approve it in another terminal:")
            print(f"  {approve_command(approval['approval_id'])}")
            outcome = client.wait_for_approval(Decision.from_wire(approval["decision"]), timeout_s=600)
            try:
                result = app.invoke(Command(resume=outcome.raw), config)
            except StepBlockedError as blocked:
                print(f"deploy blocked: {blocked.decision.reason}")
        print("\n".join(result["log"]))


if __name__ == "__main__":
    main()
