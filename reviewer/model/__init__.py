"""The one gateway client (openai SDK, tenacity retries), its circuit breaker, Cloudflare AI Gateway
headers, and what calls cost.

Rule: only this package imports the openai SDK.
"""
