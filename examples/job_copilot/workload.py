"""Entry points for ``agentwatch bench``.

Importing this module starts the copilot once (the bundled fake provider unless API keys are set,
and the vector index of the postings), so that only the workflow runs are measured:

    agentwatch bench examples.job_copilot.workload:graph --inputs examples/job_copilot/data/applications.jsonl

``graph`` is the compiled LangGraph graph (bench attaches the agentwatch callback handler);
``run`` is the same workflow as a function of one application dict.
"""

from __future__ import annotations

import atexit
import os
from typing import Any

from .app import Copilot

copilot = Copilot(offline=os.environ.get("JOB_COPILOT_OFFLINE", "") not in ("", "0", "false"))
atexit.register(copilot.close)
graph = copilot.graph


def run(application: dict[str, Any]) -> dict[str, Any]:
    return copilot.run(application)
