"""The application layer: settings (the only environment reader), services, the web intake and its
spool, events, state in Redis, the CLI, doctor, the embedded Redis and metrics.

Rule: the only place that wires the domain packages together; nothing in the domain imports it.
"""
