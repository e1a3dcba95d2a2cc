"""Span-tree helpers for the LangGraph adapter tests."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from opentelemetry.sdk.trace import ReadableSpan

Tree = tuple[str, tuple[Any, ...]]


def _children_index(spans: Sequence[ReadableSpan]) -> dict[int | None, list[ReadableSpan]]:
    ids = {s.context.span_id for s in spans}
    index: dict[int | None, list[ReadableSpan]] = {}
    for s in spans:
        parent = s.parent.span_id if s.parent is not None and s.parent.span_id in ids else None
        index.setdefault(parent, []).append(s)
    for kids in index.values():
        kids.sort(key=lambda s: (s.start_time or 0, s.name))
    return index


def trees(spans: Sequence[ReadableSpan]) -> list[Tree]:
    """The span forest as nested ``(name, (children...))``, children in start order."""
    index = _children_index(spans)

    def build(span: ReadableSpan) -> Tree:
        return (span.name, tuple(build(c) for c in index.get(span.context.span_id, [])))

    return [build(root) for root in index.get(None, [])]


def canonical(tree: Tree) -> Tree:
    """A tree with children sorted by name (for runs whose branches start in any order)."""
    name, kids = tree
    return (name, tuple(sorted((canonical(k) for k in kids), key=repr)))


def leaf(name: str) -> Tree:
    return (name, ())


def by_trace(spans: Sequence[ReadableSpan]) -> dict[int, list[ReadableSpan]]:
    out: dict[int, list[ReadableSpan]] = {}
    for s in spans:
        out.setdefault(s.context.trace_id, []).append(s)
    return out


def attr(span: ReadableSpan, key: str) -> Any:
    assert span.attributes is not None
    return span.attributes.get(key)


def parent_of(spans: Sequence[ReadableSpan], span: ReadableSpan) -> ReadableSpan | None:
    if span.parent is None:
        return None
    for s in spans:
        if s.context.span_id == span.parent.span_id:
            return s
    return None


# --- graphs used by several tests ------------------------------------------------------------------
GPT4O_MINI_IN = 0.15 / 1e6  # USD per input token (list price)
GPT4O_MINI_OUT = 0.60 / 1e6  # USD per output token


def cost(inp: int, out: int) -> float:
    return inp * GPT4O_MINI_IN + out * GPT4O_MINI_OUT


def words(text: str) -> int:
    return len(text.split())


def spans_named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def one(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = spans_named(spans, name)
    assert len(found) == 1, (name, sorted(s.name for s in spans))
    return found[0]


class State(TypedDict):
    question: str
    notes: Annotated[list[str], operator.add]


ANSWER = "alpha beta gamma"  # what the fake model answers: 3 output tokens


def four_node_graph(llm: Any, retriever: Any, *, asynchronous: bool = False, name: str = "agent") -> Any:
    """plan (model) -> retrieve (retriever) -> draft (model) -> review (model)."""
    g: StateGraph[Any] = StateGraph(State)
    if asynchronous:

        async def aplan(s: State) -> dict[str, Any]:
            return {"notes": [(await llm.ainvoke(f"plan {s['question']}")).content]}

        async def aretrieve(s: State) -> dict[str, Any]:
            return {"notes": [d.page_content for d in await retriever.ainvoke(s["question"])]}

        async def adraft(s: State) -> dict[str, Any]:
            return {"notes": [(await llm.ainvoke(f"draft {s['question']}")).content]}

        async def areview(s: State) -> dict[str, Any]:
            return {"notes": [(await llm.ainvoke(f"review the draft {s['question']}")).content]}

        g.add_node("plan", aplan)
        g.add_node("retrieve", aretrieve)
        g.add_node("draft", adraft)
        g.add_node("review", areview)
    else:

        def plan(s: State) -> dict[str, Any]:
            return {"notes": [llm.invoke(f"plan {s['question']}").content]}

        def retrieve(s: State) -> dict[str, Any]:
            return {"notes": [d.page_content for d in retriever.invoke(s["question"])]}

        def draft(s: State) -> dict[str, Any]:
            return {"notes": [llm.invoke(f"draft {s['question']}").content]}

        def review(s: State) -> dict[str, Any]:
            return {"notes": [llm.invoke(f"review the draft {s['question']}").content]}

        g.add_node("plan", plan)
        g.add_node("retrieve", retrieve)
        g.add_node("draft", draft)
        g.add_node("review", review)
    g.add_edge(START, "plan")
    g.add_edge("plan", "retrieve")
    g.add_edge("retrieve", "draft")
    g.add_edge("draft", "review")
    g.add_edge("review", END)
    return g.compile(name=name)


def four_node_usage(question: str) -> dict[str, tuple[int, int]]:
    """(input, output) tokens each model node of :func:`four_node_graph` reports for ``question``."""
    q = words(question)
    out = words(ANSWER)
    return {"plan": (1 + q, out), "draft": (1 + q, out), "review": (3 + q, out)}


FOUR_NODE_TREE = (
    "invoke_workflow agent",
    (
        ("plan", (("chat gpt-4o-mini", ()),)),
        ("retrieve", (("retrieval fake_retriever", ()),)),
        ("draft", (("chat gpt-4o-mini", ()),)),
        ("review", (("chat gpt-4o-mini", ()),)),
    ),
)
