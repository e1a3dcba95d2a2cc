"""The one token-usage model agentwatch works with, whatever the provider reported.

Meaning follows the OpenTelemetry GenAI conventions: ``input_tokens`` *includes* cache reads and
cache writes, ``output_tokens`` *includes* reasoning tokens. Provider shapes are turned into this
by :mod:`agentwatch.normalize`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    """Token counts of one call.

    ``cache_write_1h_tokens`` is the part of ``cache_write_tokens`` written with a one-hour
    lifetime (Anthropic prices it higher than the default five-minute writes).
    ``estimated`` is true when agentwatch counted the tokens itself instead of the provider.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_1h_tokens: int = 0
    input_audio_tokens: int = 0
    output_audio_tokens: int = 0
    input_image_tokens: int = 0
    estimated: bool = False

    # One is made per model call: filling the instance dict at once costs half of what the frozen
    # dataclass __init__ (one object.__setattr__ per field) does. Same signature as the generated one.
    def __init__(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
        input_audio_tokens: int = 0,
        output_audio_tokens: int = 0,
        input_image_tokens: int = 0,
        estimated: bool = False,
    ) -> None:
        self.__dict__.update(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read_tokens,
            cache_write_tokens=cache_write_tokens,
            reasoning_tokens=reasoning_tokens,
            cache_write_1h_tokens=cache_write_1h_tokens,
            input_audio_tokens=input_audio_tokens,
            output_audio_tokens=output_audio_tokens,
            input_image_tokens=input_image_tokens,
            estimated=estimated,
        )

    @property
    def uncached_input_tokens(self) -> int:
        """Input tokens billed at the plain input rate (neither read from nor written to a cache)."""
        return max(self.input_tokens - self.cache_read_tokens - self.cache_write_tokens, 0)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            cache_write_1h_tokens=self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            input_audio_tokens=self.input_audio_tokens + other.input_audio_tokens,
            output_audio_tokens=self.output_audio_tokens + other.output_audio_tokens,
            input_image_tokens=self.input_image_tokens + other.input_image_tokens,
            estimated=self.estimated or other.estimated,
        )
