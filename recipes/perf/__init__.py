"""Performance: timing and memory measurement (``bench``), the benchmarks behind
``python -m recipes bench`` and the fast preset with its export helpers (chapter 03)."""
