"""The optional statistical judge: SciPy's Mann-Whitney U test (the ``analysis`` extra),
imported on first use only."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from arxdeploy.errors import UsageError

INSTALL = "pip install 'arxdeploy[analysis]' (SciPy)"


def available() -> bool:
    return importlib.util.find_spec("scipy") is not None


def rank_test(candidate: Sequence[float], baseline: Sequence[float]) -> float:
    """One-sided p-value that ``candidate`` tends to be greater than ``baseline``."""
    try:
        from scipy.stats import mannwhitneyu
    except ImportError as exc:
        raise UsageError(f"the judge needs SciPy: {INSTALL}") from exc
    result = mannwhitneyu(list(candidate), list(baseline), alternative="greater")
    return float(result.pvalue)
