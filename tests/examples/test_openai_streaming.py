from __future__ import annotations

import re
from pathlib import Path

import pytest

from ._run import list_price, run_example, spans


def test_streamed_call_has_exact_usage_ttft_and_cost(tmp_path: Path) -> None:
    out = run_example("openai_streaming/main.py", tmp_path)
    reported = re.search(r"usage reported by the stream: (\d+) in, (\d+) out", out)
    assert reported is not None
    prompt, completion = int(reported.group(1)), int(reported.group(2))
    assert prompt > 0 and completion > 0

    (span,) = [s for s in spans(tmp_path / ".agentwatch" / "spans.jsonl") if s["name"] == "chat gpt-4o-mini"]
    a = span["attributes"]
    assert a["gen_ai.request.stream"] is True
    assert int(a["gen_ai.usage.input_tokens"]) == prompt
    assert int(a["gen_ai.usage.output_tokens"]) == completion
    assert "agentwatch.usage.estimated" not in a or a["agentwatch.usage.estimated"] is False
    # the fake provider waits 200 ms before the first token and 2 ms per token after it
    ttft = a["gen_ai.response.time_to_first_chunk"]
    duration = (int(span["endTimeUnixNano"]) - int(span["startTimeUnixNano"])) / 1e9
    assert 0.2 <= ttft < duration
    assert duration - ttft >= 0.002 * (completion - 1) * 0.5

    expected = list_price("openai", "gpt-4o-mini", {"input_tokens": prompt, "output_tokens": completion})
    assert a["agentwatch.cost.usd"] == pytest.approx(expected, rel=1e-9)
    printed = re.search(r"time_to_first_chunk=(\d+\.\d+)s, input=(\d+), output=(\d+), cost=\$(\d+\.\d+)", out)
    assert printed is not None
    assert float(printed.group(1)) == pytest.approx(ttft, abs=5e-4)
    assert (int(printed.group(2)), int(printed.group(3))) == (prompt, completion)
    assert float(printed.group(4)) == pytest.approx(expected, abs=1e-8)
