"""Deterministic checks that need no model: they run on every review, configured or not, and their
findings carry ``source`` set to the detector's name.

Rule: like ``reviewer.review``, computation over the diff only; a detector's findings never depend
on a model or a network call.
"""

from typing import TYPE_CHECKING

from reviewer._exports import lazy_exports

if TYPE_CHECKING:
    from reviewer.review.detectors.secrets import Masker, SecretScan, scan, scan_text

__all__ = ["Masker", "SecretScan", "scan", "scan_text"]

__getattr__ = lazy_exports(__name__, {"secrets": ("Masker", "SecretScan", "scan", "scan_text")})
