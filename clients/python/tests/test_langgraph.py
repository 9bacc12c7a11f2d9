"""The LangGraph helper in a small real graph of plain functions (no LLM): allow, block, approval via interrupt()."""

from __future__ import annotations

import operator
import uuid
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from conftest import Stack
from stepgate import ApprovalNotResolvedError, Decision, GateClient, GateRefusedError, GateStep, StepBlockedError
from stepgate.langgraph import APPROVAL_INTERRUPT_TYPE, gated


class State(TypedDict):
    workflow_id: str
    query: str
    log: Annotated[list[str], operator.add]


def build(client: GateClient) -> CompiledStateGraph[Any, Any, Any, Any]:
    def query_step(state: State) -> GateStep:
        return {
            "workflow_id": state["workflow_id"],
            "step_id": "query",
            "step_type": "tool_call",
            "tool_context": {"tool_name": "sql_query", "tool_input": {"query": state["query"]}},
        }

    def deploy_step(state: State) -> GateStep:
        return {
            "workflow_id": state["workflow_id"],
            "step_id": "deploy",
            "step_type": "connector_call",
            "step_name": "deploy",
        }

    @gated(client, step=query_step)
    def query(state: State) -> dict[str, Any]:
        return {"log": [f"ran {state['query']}"]}

    @gated(client, step=deploy_step)
    def deploy(state: State) -> dict[str, Any]:
        return {"log": ["deployed"]}

    graph = StateGraph(State)
    graph.add_node("query", query)
    graph.add_node("deploy", deploy)
    graph.add_edge(START, "query")
    graph.add_edge("query", "deploy")
    graph.add_edge("deploy", END)
    return graph.compile(checkpointer=InMemorySaver())


def start(
    client: GateClient, query: str = "select 1"
) -> tuple[CompiledStateGraph[Any, Any, Any, Any], RunnableConfig, Any]:
    graph = build(client)
    workflow_id = f"py-graph-{uuid.uuid4()}"
    config: RunnableConfig = {"configurable": {"thread_id": workflow_id}}
    result = graph.invoke({"workflow_id": workflow_id, "query": query, "log": []}, config)
    return graph, config, result


def test_require_approval_interrupts_and_the_approved_graph_resumes(client: GateClient, stack: Stack) -> None:
    graph, config, result = start(client)
    assert result["log"] == ["ran select 1"]
    [pause] = result["__interrupt__"]
    assert pause.value["type"] == APPROVAL_INTERRUPT_TYPE
    assert pause.value["approval_url"].endswith(pause.value["approval_id"])
    stack.decide_approval(pause.value["approval_id"], "approve")
    outcome = client.wait_for_approval(Decision.from_wire(pause.value["decision"]))
    resumed = graph.invoke(Command(resume=outcome.raw), config)
    assert resumed["log"] == ["ran select 1", "deployed"]
    assert "__interrupt__" not in resumed


def test_a_rejected_step_raises_on_resume(client: GateClient, stack: Stack) -> None:
    graph, config, result = start(client)
    [pause] = result["__interrupt__"]
    stack.decide_approval(pause.value["approval_id"], "reject")
    outcome = client.wait_for_approval(Decision.from_wire(pause.value["decision"]))
    assert outcome.decision == "block"
    # A rejection aborts the workflow: the re-gate on resume is refused, and the step does not run.
    with pytest.raises(GateRefusedError) as refused:
        graph.invoke(Command(resume=outcome.raw), config)
    assert refused.value.code == "WORKFLOW_TERMINAL"
    assert graph.get_state(config).values["log"] == ["ran select 1"]


def test_a_resume_value_cannot_approve(client: GateClient) -> None:
    graph, config, result = start(client)
    [pause] = result["__interrupt__"]
    forged = {**pause.value["decision"], "decision": "allow", "decision_source": "approval"}
    with pytest.raises(ApprovalNotResolvedError) as refused:
        graph.invoke(Command(resume=forged), config)
    assert refused.value.code == "APPROVAL_NOT_RESOLVED"
    with pytest.raises(ApprovalNotResolvedError):
        graph.invoke(Command(resume="approved"), config)


def test_block_raises_and_the_step_does_not_run(client: GateClient) -> None:
    with pytest.raises(StepBlockedError) as blocked:
        start(client, query="DROP TABLE users")
    assert blocked.value.code == "STEP_BLOCKED"
    assert [p.policy_name for p in blocked.value.decision.policies_matched] == ["block-dangerous-sql"]
