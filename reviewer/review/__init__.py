"""The review itself: planning and risk tiers, chunking, token counting, prompts, the engine that asks the
model aspects in parallel, findings, and the deterministic detectors.

Rule: no web framework, Redis, Celery or metrics here; the model is reached through ``reviewer.model``.
"""
