"""notion-batch benchmarks: `python bench/run.py` (see run.py)."""
