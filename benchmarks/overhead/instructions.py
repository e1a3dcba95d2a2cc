"""Instructions per call, counted by valgrind (callgrind): a measure the load of the machine cannot move.

Timed benchmarks on a shared 2-core machine drift by 10-20% from run to run; instruction counts
do not. Each workload runs twice under ``valgrind --tool=callgrind`` in a fresh interpreter, after
the same warm-up, once with no measured calls and once with ``--calls`` of them; the difference
divided by ``--calls`` is what one call executes (the interpreter, the SDK and agentwatch alike).

Workloads (the same functions, exporter and processor as the timed benchmarks):

* ``span`` / ``child_span``: a bare OTel SDK span start/end, at the root / under an open parent;
* ``track_inference``: the decorated chat function of ``bench_decorators`` (usage, cost, metrics);
* ``stage`` / ``workflow`` / ``inference_child`` / ``search``: the recorder alone, starting and
  finishing one record of each kind under an open workflow (``workflow`` at the root);
* ``langgraph_bare`` / ``langgraph_minimal`` / ``langgraph_dispatch`` / ``langgraph_agentwatch`` /
  ``langgraph_no_sinks``: one invocation of the 4-node graph of ``bench_langgraph``, without
  callbacks, with the minimal floor handler, with a handler whose methods do nothing (what
  LangChain's callback dispatch costs any handler), with agentwatch's handler, and with it but no
  metric sinks.

Run (valgrind must be installed; it is not a project dependency):
``python -m benchmarks.overhead.instructions [WORKLOAD ...] [--calls N]``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
#: calls made before counting starts (caches, the first price lookup, label children)
WARM_UP = 300
WARM_UP_LANGGRAPH = 30
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")

Workload = Callable[[], Any]


def _configured() -> tuple[Any, Any]:
    """agentwatch configured as in the timed benchmarks; (tracer provider, recorder)."""
    from opentelemetry.sdk.trace import TracerProvider
    from prometheus_client import CollectorRegistry

    import agentwatch
    from agentwatch import _state

    from .bench_decorators import CountingExporter, DefaultProcessor

    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(DefaultProcessor(CountingExporter()))
    agentwatch.configure(tracer_provider=provider, prometheus_registry=CollectorRegistry(auto_describe=True))
    return provider, _state.recorder


def _recorder_workloads() -> dict[str, Workload]:
    from opentelemetry import trace

    import agentwatch
    from agentwatch.decorators import read_inference_result
    from agentwatch.records import Inference, Stage, VectorSearch, Workflow

    from .bench_decorators import CHAT_RESULT

    provider, recorder = _configured()
    tracer = provider.get_tracer("instructions")
    workflow = Workflow(name="support_agent")
    stage = Stage(name="plan", graph="support_agent", step=1)
    inference = Inference(provider="openai", model="gpt-4o")
    search = VectorSearch(db="fake", collection="docs")
    parent = recorder.start(workflow, None)
    parent_context = trace.set_span_in_context(parent.span)

    def child(record: Any, result: Any = None) -> Workload:
        def run() -> None:
            call = recorder.start(record, parent)
            if result is not None:
                read_inference_result(call, result)
            recorder.finish(call)

        return run

    def chat(i: int) -> dict[str, Any]:
        return CHAT_RESULT

    tracked = agentwatch.track_inference(provider="openai", model="gpt-4o")(chat)
    return {
        "span": lambda: tracer.start_span("span").end(),
        "child_span": lambda: tracer.start_span("child", context=parent_context).end(),
        "track_inference": lambda: tracked(0),
        "stage": child(stage),
        "workflow": lambda: recorder.finish(recorder.start(workflow, None)),
        "inference_child": child(inference, CHAT_RESULT),
        "search": child(search),
    }


def _langgraph_workloads(name: str) -> dict[str, Workload]:
    from langchain_core.callbacks import BaseCallbackHandler
    from prometheus_client import CollectorRegistry

    from agentwatch_langgraph import CallbackHandler

    from .bench_langgraph import MinimalHandler, build_graph

    provider, recorder = _configured()

    class Dispatched(BaseCallbackHandler):
        """Receives every event this graph sends the agentwatch handler, and does nothing with it."""

        def on_chain_start(self, *args: Any, **kwargs: Any) -> None: ...
        def on_chain_end(self, *args: Any, **kwargs: Any) -> None: ...
        def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None: ...
        def on_llm_end(self, *args: Any, **kwargs: Any) -> None: ...
        def on_retriever_start(self, *args: Any, **kwargs: Any) -> None: ...
        def on_retriever_end(self, *args: Any, **kwargs: Any) -> None: ...

    handlers: dict[str, Callable[[], list[Any]]] = {
        "langgraph_bare": lambda: [],
        "langgraph_minimal": lambda: [MinimalHandler(provider.get_tracer("minimal"), CollectorRegistry())],
        "langgraph_dispatch": lambda: [Dispatched()],
        "langgraph_agentwatch": lambda: [CallbackHandler()],
        "langgraph_no_sinks": lambda: [CallbackHandler()],
    }
    if name == "langgraph_no_sinks":
        recorder.sinks = ()
    graph = build_graph()
    config = {"callbacks": handlers[name]()}
    state = {"question": "What is the refund policy for damaged items?", "notes": []}
    return {name: lambda: graph.invoke(state, config=config)}


NAMES = ("span", "child_span", "track_inference", "stage", "workflow", "inference_child", "search",
         "langgraph_bare", "langgraph_minimal", "langgraph_dispatch", "langgraph_agentwatch",
         "langgraph_no_sinks")


def run_workload(name: str, calls: int) -> None:
    """Inside valgrind: warm up, then make ``calls`` calls."""
    workloads = _langgraph_workloads(name) if name.startswith("langgraph") else _recorder_workloads()
    fn = workloads[name]
    for _ in range(WARM_UP_LANGGRAPH if name.startswith("langgraph") else WARM_UP):
        fn()
    for _ in range(calls):
        fn()


def count(name: str, calls: int) -> int:
    """Instructions of one call of ``name`` (two valgrind runs)."""
    paths = (str(ROOT), os.environ.get("PYTHONPATH"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))
    totals = []
    for n in (0, calls):
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
               "-m", "benchmarks.overhead.instructions", "--run", name, "--calls", str(n)]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        found = _COLLECTED.search(proc.stderr)
        if proc.returncode != 0 or found is None:
            raise RuntimeError(f"{name}: valgrind failed ({proc.returncode}): {proc.stderr[-2000:]}")
        totals.append(int(found.group(1)))
    return (totals[1] - totals[0]) // calls


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("workloads", nargs="*", metavar="WORKLOAD",
                        help=f"any of {', '.join(NAMES)} (default: all)")
    parser.add_argument("--calls", type=int, default=None,
                        help="measured calls (default 1000; 100 for the LangGraph workloads)")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:
        run_workload(args.run, args.calls or 0)
        return 0
    unknown = sorted(set(args.workloads) - set(NAMES))
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(unknown)} (known: {', '.join(NAMES)})")
    if shutil.which("valgrind") is None:
        print("instructions: valgrind is not installed (e.g. apt-get install valgrind)", file=sys.stderr)
        return 2
    for name in args.workloads or NAMES:
        calls = args.calls or (100 if name.startswith("langgraph") else 1000)
        print(f"{name:24s} {count(name, calls):>12,} instructions per call", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
