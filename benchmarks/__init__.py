"""Side-by-side benchmarks of memshare and the tools users would pick instead.

Run ``python -m benchmarks --quick`` for a smoke run of every workload or
``python -m benchmarks --full`` for the published page (``docs/benchmarks.md``).
"""
