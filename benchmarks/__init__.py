"""Benchmarks of numbadn against its peers and the project's speed targets.

A plain folder of scripts, not part of the installed package: run them from the
repository root as ``python -m benchmarks.headtohead`` or ``python -m
benchmarks.scaling`` (see ``benchmarks/README.md``).  ``reproduce/sec45_timings.py``
imports :mod:`benchmarks.headtohead` for its head-to-head section.
"""
