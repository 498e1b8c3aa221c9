"""Benchmarks: timed runs of the library and the targets they are judged against.

This is the only package that knows targets or says PASS/MISS (``targets.py``); the timed
runs (``units.py``, ``decode.py``) return plain measurements, and ``lst.bin.benchmark``
prints both. Library packages never import this one.
"""
