"""Process-wide state: the active recorder (None until configure(), and again after shutdown())."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentwatch.recorder import Recorder

recorder: Recorder | None = None
