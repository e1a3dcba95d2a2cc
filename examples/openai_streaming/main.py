"""A streamed OpenAI chat completion, traced: time to first token, usage and cost on one span.

    python examples/openai_streaming/main.py

Without OPENAI_API_KEY it starts agentwatch's bundled fake provider on 127.0.0.1, which streams
in OpenAI's real wire format. The span stays open until the stream is exhausted; with
``stream_options={"include_usage": True}`` the provider reports usage on a last chunk, so the
tokens are exact (without it, pass ``inject_stream_usage=True`` to ``instrument``).
"""

from __future__ import annotations

import time

import openai

import agentwatch
import agentwatch_openai
from agentwatch.fake_provider import Latency
from agentwatch.fake_provider.offline import unless_keys
from agentwatch.report import iter_spans

MODEL = "gpt-4o-mini"


def main() -> None:
    tel = agentwatch.configure(service_name="openai-streaming-example", exporters=["file"])
    client = agentwatch_openai.instrument(openai.OpenAI())

    started = time.perf_counter()
    first: float | None = None
    stream = client.chat.completions.create(
        model=MODEL, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Write three short tips for a data engineer's resume."}])
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            first = first if first is not None else time.perf_counter() - started
            print(chunk.choices[0].delta.content, end="", flush=True)
        if chunk.usage is not None:  # the last chunk: no choices, only usage
            print(f"\n\nusage reported by the stream: {chunk.usage.prompt_tokens} in, "
                  f"{chunk.usage.completion_tokens} out")
    print(f"first text chunk seen by the caller after {first or 0:.3f}s")

    tel.force_flush()
    span = [s for s in iter_spans(str(tel.spans_path)) if s.name == f"chat {MODEL}"][-1]  # this run's
    a = span.attributes
    print(f"span {span.name!r}: stream={a['gen_ai.request.stream']}, "
          f"time_to_first_chunk={float(a['gen_ai.response.time_to_first_chunk']):.3f}s, "
          f"input={a['gen_ai.usage.input_tokens']}, output={a['gen_ai.usage.output_tokens']}, "
          f"cost=${float(a['agentwatch.cost.usd']):.8f}")
    print(f"spans: {tel.spans_path}")
    agentwatch.shutdown()


if __name__ == "__main__":
    # No OPENAI_API_KEY: the bundled fake provider, 200 ms to the first token then 2 ms a token
    with unless_keys("openai", latency=Latency(ttft=0.2, per_token=0.002)):
        main()
