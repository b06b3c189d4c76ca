"""Deterministic checks that need no model: they run on every review, configured or not, and
their findings carry ``source`` set to the detector's name."""
