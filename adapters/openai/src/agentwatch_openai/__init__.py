"""agentwatch for the OpenAI Python SDK.

    import agentwatch, openai, agentwatch_openai
    agentwatch.configure()
    client = agentwatch_openai.instrument(openai.OpenAI())

or, for every client in the process, ``agentwatch_openai.OpenAIInstrumentor().instrument()``.
Records ``chat.completions.create`` / ``parse`` / ``stream``, ``responses.create`` / ``parse`` /
``stream`` and ``embeddings.create``, sync and async, with usage, cost, finish reasons, tool calls,
time to first token, retries, rate-limit headers and errors.
"""

from agentwatch_openai._instrument import OpenAIInstrumentor, instrument, uninstrument

__version__ = "0.1.0"

__all__ = ["OpenAIInstrumentor", "__version__", "instrument", "uninstrument"]
