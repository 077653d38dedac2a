"""Survival measures: Harrell's concordance index of a risk score."""
from __future__ import annotations

import numpy as np

__all__ = ["cindex"]


def cindex(time, score, event) -> float:
    """Harrell's C of a risk score (``lifelines.utils.concordance_index``).

    Args:
        time: ``(N,)`` follow-up times.
        score: ``(N,)`` risk scores; a higher score means an earlier event.
        event: ``(N,)`` 1 if the event was observed, 0 if censored.

    Returns:
        The fraction of comparable pairs ranked correctly (0.5 = chance, 1 = perfect).
    """
    from lifelines.utils import concordance_index

    return float(concordance_index(np.asarray(time), -np.asarray(score, float), np.asarray(event)))
