"""Attribution scores on hand-made maps whose answers are known."""
import numpy as np
import pytest

from medbench.errors import DataError
from medbench.metrics import mask_area_fraction, pointing_game, rank_correlation, relevance_mass, topk_agreement


def _mask(n=2, size=8):
    m = np.zeros((n, size, size), bool)
    m[:, 2:4, 2:4] = True
    return m


def test_pointing_game_hits_and_misses():
    m = _mask()
    maps = np.zeros((2, 8, 8))
    maps[0, 3, 3] = 1.0  # inside
    maps[1, 7, 7] = 1.0  # outside
    assert pointing_game(maps, m) == 0.5
    assert pointing_game(maps, m, reduce=False).tolist() == [True, False]
    # a channel axis of 1 on either side is accepted
    assert pointing_game(maps[:, None], m) == 0.5


def test_pointing_game_flat_map_is_not_a_hit_and_tolerance_dilates():
    m = _mask(1)
    assert pointing_game(np.ones((1, 8, 8)), m) == 0.0
    near = np.zeros((1, 8, 8))
    near[0, 4, 3] = 1.0  # one pixel below the mask
    assert pointing_game(near, m) == 0.0
    assert pointing_game(near, m, tolerance=1) == 1.0


def test_relevance_mass_and_chance():
    m = _mask(1)
    maps = np.zeros((1, 8, 8))
    maps[0, 2:4, 2:4] = 3.0
    maps[0, 6, 6] = 4.0
    maps[0, 0, 0] = -10.0  # negative evidence is not counted
    assert relevance_mass(maps, m) == pytest.approx(12.0 / 16.0)
    assert mask_area_fraction(m) == pytest.approx(4 / 64)
    # a uniform map scores the area fraction: the chance level
    assert relevance_mass(np.ones((1, 8, 8)), m) == pytest.approx(mask_area_fraction(m))
    assert relevance_mass(-np.ones((1, 8, 8)), m) == 0.0


def test_shapes_and_empty_masks_are_errors():
    with pytest.raises(DataError, match="one shape"):
        pointing_game(np.zeros((2, 8, 8)), np.ones((2, 4, 4), bool))
    with pytest.raises(DataError, match="at least one pixel"):
        relevance_mass(np.zeros((1, 8, 8)), np.zeros((1, 8, 8), bool))


def test_rank_correlation():
    rng = np.random.default_rng(0)
    a = rng.random((3, 8, 8))
    assert rank_correlation(a, 2 * a + 1) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(1.0)  # magnitudes by default
    assert rank_correlation(a, -a, absolute=False) == pytest.approx(-1.0)
    assert abs(rank_correlation(a, rng.random((3, 8, 8)))) < 0.3
    assert rank_correlation(a, np.zeros_like(a)) == 0.0


def test_topk_agreement():
    truth = np.array([[5.0, -4.0, 3.0, 0.1, 0.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    assert topk_agreement(truth, truth, k=3) == 1.0
    est = np.array([[5.0, 0.0, 3.0, 4.0, 0.0], [5.0, 4.0, 3.0, 2.0, 1.0]])
    assert topk_agreement(est, truth, k=3, reduce=False).tolist() == pytest.approx([2 / 3, 1 / 3])
    with pytest.raises(DataError):
        topk_agreement(est, truth, k=6)
