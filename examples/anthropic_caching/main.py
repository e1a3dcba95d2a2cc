"""Anthropic prompt caching, traced: the first call writes the cache, the second reads it.

    python examples/anthropic_caching/main.py

Without ANTHROPIC_API_KEY it starts agentwatch's bundled fake provider on 127.0.0.1, which caches
like the real API (a ``cache_control`` breakpoint after at least 1,024 tokens is written once,
then read). It prints each call's usage and cost as recorded on its span, and what the second call
would have cost without the cache.
"""

from __future__ import annotations

import anthropic

import agentwatch
import agentwatch_anthropic
from agentwatch.fake_provider.offline import unless_keys
from agentwatch.report import iter_spans

MODEL = "claude-sonnet-4-5"

# A long, stable system prompt: the part worth caching (it must be at least 1,024 tokens).
RULES = [
    f"Rule {n}: when a candidate lists {skill}, ask for one concrete project that used it, the size "
    f"of the team, what they owned themselves and how they measured the result; prefer evidence "
    f"from the last three years and say so when the resume gives none."
    for n, skill in enumerate(
        ["Python", "SQL", "Kubernetes", "Terraform", "React", "TypeScript", "Go", "Rust", "Airflow",
         "Spark", "dbt", "PostgreSQL", "Kafka", "gRPC", "AWS", "GCP", "Azure", "LangGraph", "PyTorch",
         "pandas", "FastAPI", "Django", "Redis", "Elasticsearch", "Snowflake", "BigQuery", "Docker",
         "Prometheus", "Grafana", "OpenTelemetry"] * 2, start=1)
]
SYSTEM = "You are a hiring assistant that reviews resumes against a posting.\n" + "\n".join(RULES)


def main() -> None:
    tel = agentwatch.configure(service_name="anthropic-caching-example", exporters=["file"])
    client = agentwatch_anthropic.instrument(anthropic.Anthropic())
    # The cache_control breakpoint marks the end of the prefix to cache (here: the whole system prompt).
    system: list[anthropic.types.TextBlockParam] = [
        {"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    for question in ("Review: 6 years of Python and SQL, led a team of 4.",
                     "Review: 2 years of Go, Kafka and Kubernetes, on call for payments."):
        reply = client.messages.create(model=MODEL, max_tokens=200, system=system,
                                       messages=[{"role": "user", "content": question}])
        u = reply.usage
        print(f"call: input {u.input_tokens}, cache write {u.cache_creation_input_tokens}, "
              f"cache read {u.cache_read_input_tokens}, output {u.output_tokens}")

    tel.force_flush()
    calls = [s for s in iter_spans(str(tel.spans_path)) if s.name.startswith("chat ")][-2:]  # this run's
    costs = [float(s.attributes["agentwatch.cost.usd"]) for s in calls]
    for label, cost in zip(("first call", "second call"), costs, strict=True):
        print(f"{label}: ${cost:.6f}")

    # What the second call would have cost with every input token at the plain input rate.
    second = calls[1].attributes
    uncached = agentwatch.estimate_cost("anthropic", MODEL, agentwatch.Usage(
        input_tokens=int(second["gen_ai.usage.input_tokens"]),
        output_tokens=int(second["gen_ai.usage.output_tokens"])))
    assert uncached is not None
    print(f"second call without the cache: ${uncached.total:.6f}")
    print(f"saved by the cache on the second call: ${uncached.total - costs[1]:.6f} "
          f"({1 - costs[1] / uncached.total:.0%})")
    print(f"spans: {tel.spans_path}")
    agentwatch.shutdown()


if __name__ == "__main__":
    with unless_keys("anthropic"):  # no ANTHROPIC_API_KEY: the bundled fake provider on 127.0.0.1
        main()
