"""The review itself: planning and risk tiers, chunking, token counting, prompts, the engine that asks the
model aspects in parallel, findings, the deterministic detectors, and what a review remembers
(``memory``: Protocols the app layer implements).

Rule: no web framework, Redis, Celery or metrics here; the model is reached through ``reviewer.model``.
"""
