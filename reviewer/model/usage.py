"""What model calls cost: tokens (prompt, cached, completion) and their price."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None  # None: cached input costs as much as input

    def cost(self, prompt_tokens: int, cached_tokens: int, completion_tokens: int) -> float:
        cached_rate = (
            self.input_per_mtok if self.cached_input_per_mtok is None else self.cached_input_per_mtok
        )
        return (
            (prompt_tokens - cached_tokens) * self.input_per_mtok
            + cached_tokens * cached_rate
            + completion_tokens * self.output_per_mtok
        ) / 1_000_000


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    calls: int = 0  # answered model calls (a failed attempt bills nothing)
    unpriced: frozenset[str] = frozenset()  # models that answered but have no price (counted at 0)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cost=self.cost + other.cost,
            calls=self.calls + other.calls,
            unpriced=self.unpriced | other.unpriced,
        )

    def __radd__(self, other: object) -> Usage:
        if other == 0:  # sum(usages) starts from 0
            return self
        return NotImplemented
