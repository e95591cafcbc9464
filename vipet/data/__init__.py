"""Dataset build: per-study cache, manifest and splits, paired slices, exports, torch datasets.

Only `dataset.py` imports torch; everything else is numpy/pyarrow so a build can run in workers
(and on machines) without a deep-learning stack.
"""
