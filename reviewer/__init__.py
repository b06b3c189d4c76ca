"""The review engine: plain Python that turns a merge request's diff into placed findings.

Layer rules (tests/unit/test_layers.py keeps them):
- no Celery and no web framework are imported here; ``workers/`` and ``reviewer.app.web`` wire them;
- only ``reviewer.app.config`` reads the environment; everything else is handed its settings;
- only ``reviewer.gitlab`` (its client and api modules) talks to python-gitlab and only
  ``reviewer.model.client`` to the openai SDK.
"""
