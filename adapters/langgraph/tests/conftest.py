"""Fixtures for the LangGraph adapter tests: agentwatch capturing spans in memory."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # lg_helpers (tests run with --import-mode=importlib)


