"""`vllm-harness compare BASELINE CANDIDATE`: speed and behaviour of two runs (or two sets of repeated
runs), a regression only where a change passes its threshold and is statistically significant."""

from harness.compare.decide import Comparison, compare
from harness.compare.runs import Side, load_side
from harness.compare.thresholds import Thresholds

__all__ = ["Comparison", "Side", "Thresholds", "compare", "load_side"]
