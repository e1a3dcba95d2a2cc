from __future__ import annotations

import re
from pathlib import Path

import pytest

from ._run import list_price, run_example, spans

MODEL = "claude-sonnet-4-5"


def test_cache_write_then_read_and_the_saving(tmp_path: Path) -> None:
    out = run_example("anthropic_caching/main.py", tmp_path)
    usage = [tuple(map(int, m)) for m in re.findall(
        r"call: input (\d+), cache write (\d+), cache read (\d+), output (\d+)", out)]
    assert len(usage) == 2
    (in1, write1, read1, out1), (in2, write2, read2, out2) = usage
    assert write1 > 1024 and read1 == 0  # the first call writes the system prompt to the cache ...
    assert write2 == 0 and read2 == write1  # ... and the second reads exactly that back

    chats = [s for s in spans(tmp_path / ".agentwatch" / "spans.jsonl") if s["name"] == f"chat {MODEL}"]
    assert len(chats) == 2
    first, second = (s["attributes"] for s in chats)
    assert int(first["gen_ai.usage.cache_creation.input_tokens"]) == write1
    assert int(second["gen_ai.usage.cache_read.input_tokens"]) == read2
    assert int(second["gen_ai.usage.input_tokens"]) == in2 + read2  # the semconv total includes the cache

    expected1 = list_price("anthropic", MODEL, {"input_tokens": in1 + write1, "cache_write_tokens": write1,
                                                "output_tokens": out1})
    expected2 = list_price("anthropic", MODEL, {"input_tokens": in2 + read2, "cache_read_tokens": read2,
                                                "output_tokens": out2})
    uncached2 = list_price("anthropic", MODEL, {"input_tokens": in2 + read2, "output_tokens": out2})
    assert first["agentwatch.cost.usd"] == pytest.approx(expected1, rel=1e-9)
    assert second["agentwatch.cost.usd"] == pytest.approx(expected2, rel=1e-9)

    printed = {k: float(v) for k, v in re.findall(r"^(.+?): \$(\d+\.\d+)", out, re.M)}
    assert printed["first call"] == pytest.approx(expected1, abs=1e-6)
    assert printed["second call"] == pytest.approx(expected2, abs=1e-6)
    assert printed["second call without the cache"] == pytest.approx(uncached2, abs=1e-6)
    saved = re.search(r"saved by the cache on the second call: \$(\d+\.\d+) \((\d+)%\)", out)
    assert saved is not None
    assert float(saved.group(1)) == pytest.approx(uncached2 - expected2, abs=2e-6)
    assert int(saved.group(2)) == round(100 * (1 - expected2 / uncached2))
