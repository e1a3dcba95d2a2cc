"""The demo and bench tests import the example from the repository root (examples/job_copilot)."""

from __future__ import annotations

import sys

from ._helpers import REPO

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
