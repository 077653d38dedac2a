"""Mammography-like patches with a known probability of malignancy (chapter 05, GAN augmentation).

No real mammography ships offline, so this simulator draws 2D patches whose *statistics* follow
what is known about screening mammograms:

- background: fibroglandular tissue with a power-law spectrum, power ∝ 1/f^beta with beta ≈ 3
  (Burgess, Jacobson & Judy 2001, *Med Phys* 28:419), plus quantum noise;
- a mass at the centre: benign-looking masses are round or oval with circumscribed (smooth)
  margins; suspicious ones have irregular margins and spicules (radiating lines), as in the BI-RADS
  mass descriptors; optional clusters of microcalcifications (small bright dots) are more frequent
  in suspicious lesions;
- each lesion has a latent *suspicion* ``r`` in [0, 1] that sets its margin irregularity, spicule
  count/length and calcification probability; the lesion is malignant with the known probability
  ``p_malignant = sigmoid(8 (r - 0.5))`` and the label is drawn from it. The Bayes-optimal AUROC
  (scoring by ``p_malignant``) is therefore below 1.

Patches are ``(N, 1, size, size)`` float32 in [0, 1]; every patch is its own "patient" (one lesion
per woman), so patient splits are patch splits. For a user's own patches, BreastMNIST ``.npz``
files load with :func:`medbench.data.medmnist.load_medmnist` (note: BreastMNIST is *ultrasound*,
not mammography).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medbench.errors import ConfigError
from medbench.settings import check_seed

__all__ = ["MammoPatches", "mammo_patches", "powerlaw_texture", "p_malignant_from_suspicion"]


def p_malignant_from_suspicion(r):
    """The known link from a lesion's suspicion ``r`` in [0, 1] to its probability of malignancy."""
    return 1.0 / (1.0 + np.exp(-8.0 * (np.asarray(r, dtype=np.float64) - 0.5)))


def powerlaw_texture(size: int, beta: float = 3.0, rng=None) -> np.ndarray:
    """Gaussian noise filtered to a 1/f^beta power spectrum, standardised, ``(size, size)``."""
    rng = np.random.default_rng() if rng is None else rng
    f = np.sqrt(np.fft.fftfreq(size)[:, None] ** 2 + np.fft.fftfreq(size)[None, :] ** 2)
    f[0, 0] = 1.0 / size
    spec = np.fft.fft2(rng.standard_normal((size, size))) * f ** (-beta / 2)
    spec[0, 0] = 0
    img = np.real(np.fft.ifft2(spec))
    return (img - img.mean()) / (img.std() + 1e-12)


@dataclass
class MammoPatches:
    """Simulated patches.

    Attributes:
        images: ``(N, 1, S, S)`` float32 in [0, 1].
        labels: ``(N,)`` int64, 1 = malignant.
        p_malignant: ``(N,)`` the true probability of malignancy.
        suspicion: ``(N,)`` the latent suspicion ``r``.
        patient_ids: ``(N,)`` one id per patch.
    """

    images: np.ndarray
    labels: np.ndarray
    p_malignant: np.ndarray
    suspicion: np.ndarray
    patient_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx) -> "MammoPatches":
        return MammoPatches(self.images[idx], self.labels[idx], self.p_malignant[idx], self.suspicion[idx],
                            self.patient_ids[idx])



def _lesion(size, r, rng):
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    ang, rad = np.arctan2(yy, xx), np.hypot(yy, xx)
    base = rng.uniform(0.16, 0.24) * size
    ecc = rng.uniform(0.0, 0.35)  # oval
    theta0 = rng.uniform(0, np.pi)
    radius = base * (1 + ecc * np.cos(2 * (ang - theta0)))
    # margin irregularity: random low-order harmonics whose amplitude grows with suspicion
    for k in range(3, 9):
        radius = radius * (1 + 0.12 * r * rng.standard_normal() * np.cos(k * ang + rng.uniform(0, 2 * np.pi)))
    edge = 0.6 + 1.4 * (1 - r)  # circumscribed (sharp) vs ill-defined
    mass = 1 / (1 + np.exp((rad - radius) / edge * 2.5))
    # spicules: thin radiating lines, more and longer when suspicious
    spic = np.zeros_like(mass)
    for _ in range(rng.poisson(10 * r ** 1.5)):
        a = rng.uniform(0, 2 * np.pi)
        length = base * rng.uniform(0.8, 1.8) * (0.5 + r)
        d_perp = np.abs(-np.sin(a) * xx + np.cos(a) * yy)
        along = np.cos(a) * xx + np.sin(a) * yy
        spic = np.maximum(spic, np.exp(-d_perp ** 2 / 0.5) * (along > 0) * np.clip(1 - along / (base + length), 0, 1))
    img = 0.55 * mass + 0.35 * spic
    # microcalcifications: a cluster of small bright dots, likelier when suspicious
    if rng.random() < 0.1 + 0.6 * r:
        cx, cy = rng.normal(0, base * 0.5, 2)
        for _ in range(rng.integers(3, 9)):
            px, py = cx + rng.normal(0, 2.0), cy + rng.normal(0, 2.0)
            img = img + 0.5 * np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / 0.6)
    return img


def mammo_patches(n: int = 1000, seed: int = 0, *, size: int = 32, beta: float = 3.0,
                  noise: float = 0.04) -> MammoPatches:
    """Draw ``n`` mammography-like patches, each with a centred mass and a known ``p_malignant``.

    Args:
        n: patches (one per simulated woman).
        seed: random seed (patch ``i`` depends only on ``seed`` and ``i``).
        size: side in pixels (32 for the chapter's DCGAN).
        beta: exponent of the background's 1/f^beta power spectrum.
        noise: sd of white (quantum) noise.

    Returns:
        :class:`MammoPatches`; about 30% malignant.
    """
    seed = check_seed(seed)
    if int(n) < 1 or int(size) < 16:
        raise ConfigError(f"mammo_patches needs n >= 1 and size >= 16, got n={n}, size={size}")
    images = np.empty((int(n), 1, int(size), int(size)), np.float32)
    r = np.empty(int(n))
    labels = np.empty(int(n), np.int64)
    for i in range(int(n)):
        rng = np.random.default_rng([seed, i])
        r[i] = rng.beta(1.2, 2.0)
        labels[i] = rng.random() < p_malignant_from_suspicion(r[i])
        density = rng.uniform(0.25, 0.55)  # breast density: brighter, denser background
        bg = density + 0.12 * powerlaw_texture(size, beta, rng)
        img = bg + _lesion(size, r[i], rng) + noise * rng.standard_normal((size, size))
        images[i, 0] = np.clip(img / 1.6, 0, 1)
    return MammoPatches(images, labels, p_malignant_from_suspicion(r), r,
                        np.array([f"mammo{seed}_{i:05d}" for i in range(int(n))]))
