"""The one gateway client (openai SDK, tenacity retries, fallback models), its circuit breaker,
Cloudflare AI Gateway headers, structured output, and what calls cost.

Rule: only this package imports the openai SDK, and its errors leave it as the project's own
(``reviewer.errors``); nothing here knows GitLab, prompts or the web.
"""

from typing import TYPE_CHECKING

from reviewer._exports import lazy_exports

if TYPE_CHECKING:
    from reviewer.model.answers import AnswerInvalid, AspectAnswer
    from reviewer.model.calls import Completion
    from reviewer.model.client import AnswerCutOff, GatewayConfig, LLMClient
    from reviewer.model.structured import strict_schema
    from reviewer.model.usage import Price, Usage

__all__ = [
    "AnswerCutOff",
    "AnswerInvalid",
    "AspectAnswer",
    "Completion",
    "GatewayConfig",
    "LLMClient",
    "Price",
    "Usage",
    "strict_schema",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "answers": ("AnswerInvalid", "AspectAnswer"),
        "calls": ("Completion",),
        "client": ("AnswerCutOff", "GatewayConfig", "LLMClient"),
        "structured": ("strict_schema",),
        "usage": ("Price", "Usage"),
    },
)
