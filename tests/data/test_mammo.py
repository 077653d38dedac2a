from __future__ import annotations

import numpy as np
import pytest

from medbench.data.mammo import mammo_patches, p_malignant_from_suspicion, powerlaw_texture
from medbench.errors import ConfigError
from medbench.metrics import auroc


def test_patches_shapes_range_labels_and_known_truth():
    d = mammo_patches(400, seed=1)
    assert d.images.shape == (400, 1, 32, 32) and d.images.dtype == np.float32
    assert d.images.min() >= 0 and d.images.max() <= 1
    assert 0.2 < d.labels.mean() < 0.5
    assert np.allclose(d.p_malignant, p_malignant_from_suspicion(d.suspicion))
    # the label is drawn from p_malignant: the Bayes AUROC is high but not perfect
    assert 0.8 < auroc(d.labels, d.p_malignant) < 0.97  # the truth is informative, not perfect
    assert len(set(d.patient_ids)) == 400


def test_patch_i_depends_only_on_seed_and_i():
    a, b = mammo_patches(50, seed=3), mammo_patches(80, seed=3)
    assert np.array_equal(a.images, b.images[:50]) and np.array_equal(a.labels, b.labels[:50])
    assert not np.array_equal(a.images, mammo_patches(50, seed=4).images)


def test_background_has_a_power_law_spectrum():
    rng = np.random.default_rng(0)
    power = np.mean([np.abs(np.fft.fft2(powerlaw_texture(64, 3.0, rng))) ** 2 for _ in range(20)], axis=0)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(64), np.fft.fftfreq(64), indexing="ij"))
    ring = lambda lo, hi: power[(f >= lo) & (f < hi)].mean()  # noqa: E731
    slope = np.log(ring(0.2, 0.25) / ring(0.05, 0.0625)) / np.log(0.225 / 0.05625)
    assert -3.5 < slope < -2.5


def test_suspicious_lesions_look_different_from_benign_ones():
    d = mammo_patches(600, seed=0)
    img = d.images[:, 0]
    yy, xx = np.mgrid[:32, :32] - 15.5
    r = np.hypot(yy, xx)
    hi, lo = d.suspicion > 0.7, d.suspicion < 0.2
    # spicules reach beyond the mass: brighter than the background around the mass in suspicious lesions
    beyond = img[:, (r > 9) & (r < 13)].mean(1) - img[:, r > 14].mean(1)
    assert beyond[hi].mean() > beyond[lo].mean() + 0.005
    # irregular, spiculated margins: more edge energy inside the lesion
    gy, gx = np.gradient(img, axis=(1, 2))
    edges = np.hypot(gy, gx)[:, r < 10].mean(1)
    assert edges[hi].mean() > 1.2 * edges[lo].mean()
    with pytest.raises(ConfigError, match="size >= 16"):
        mammo_patches(5, size=8)
