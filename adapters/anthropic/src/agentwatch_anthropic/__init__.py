"""agentwatch for the Anthropic Python SDK.

    import agentwatch, anthropic, agentwatch_anthropic
    agentwatch.configure()
    client = agentwatch_anthropic.instrument(anthropic.Anthropic())

or, for every client in the process, ``agentwatch_anthropic.AnthropicInstrumentor().instrument()``.
Records ``messages.create`` / ``parse`` / ``stream`` (and the ``beta.messages`` ones), sync and
async, with usage (prompt-cache reads and 5m / 1h writes, thinking tokens), cost, stop reasons, tool
use, time to first token, retries, rate-limit headers and errors.
"""

from agentwatch_anthropic._instrument import AnthropicInstrumentor, instrument, uninstrument

__version__ = "0.1.0"

__all__ = ["AnthropicInstrumentor", "__version__", "instrument", "uninstrument"]
