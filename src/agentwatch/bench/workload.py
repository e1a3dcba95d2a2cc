"""Find the workload (``module:callable``) and read its inputs (JSON lines)."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class BenchError(Exception):
    """A problem with what the user asked for (bad workload, inputs, prices or baseline)."""


@dataclass
class Workload:
    """What one run calls: a function of one input dict (``async def`` too), or a runnable (a
    compiled LangGraph graph) invoked with the agentwatch LangGraph callback handler attached."""

    spec: str
    target: Any
    kind: str  # "function" | "runnable"
    _handler: Any = field(default=None, repr=False)

    def __call__(self, item: dict[str, Any]) -> Any:
        if self.kind == "function":
            result = self.target(item)
            if inspect.isawaitable(result):  # an async def workload: one event loop per run
                return asyncio.run(_awaited(result))
            return result
        if self._handler is None:
            self._handler = _langgraph_handler()
        return self.target.invoke(item, config={"callbacks": [self._handler]})


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _langgraph_handler() -> Any:
    try:
        adapter = importlib.import_module("agentwatch_langgraph")
    except ImportError as exc:
        raise BenchError(
            "the workload is a LangChain / LangGraph runnable: install the adapter "
            "(pip install 'agentwatch[langgraph]') so its nodes and model calls are recorded"
        ) from exc
    handler_class: Callable[[], Any] = adapter.CallbackHandler
    return handler_class()


def load_workload(spec: str) -> Workload:
    """Import ``module:attribute`` from the current directory or ``PYTHONPATH``."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name.strip() or not attr.strip():
        raise BenchError(f"WORKLOAD must look like module:callable (e.g. my_agent.graph:app), not {spec!r}")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name.strip())
    except ModuleNotFoundError as exc:
        if exc.name and module_name.strip().startswith(exc.name):
            raise BenchError(
                f"cannot import {module_name!r}: run from the directory that contains it, "
                "or add that directory to PYTHONPATH"
            ) from exc
        raise
    target: Any = module
    for part in attr.strip().split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise BenchError(f"{module_name} has no attribute {attr!r}") from None
    invoke = getattr(target, "invoke", None)
    if callable(invoke):
        return Workload(spec, target, "runnable")
    if callable(target):
        return Workload(spec, target, "function")
    raise BenchError(f"{spec} is neither a function nor a runnable graph (it is a {type(target).__name__})")


def load_inputs(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], str]:
    """The inputs (one JSON object per line) and the SHA-256 of the file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise BenchError(f"--inputs {path}: {exc.strerror or exc}") from exc
    items: list[dict[str, Any]] = []
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BenchError(f"--inputs {path}, line {number}: not JSON ({exc.msg})") from None
        if not isinstance(value, dict):
            raise BenchError(f"--inputs {path}, line {number}: each line must be a JSON object")
        items.append(value)
    if not items:
        raise BenchError(f"--inputs {path}: no inputs (one JSON object per line)")
    return items, hashlib.sha256(data).hexdigest()
