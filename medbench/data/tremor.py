"""A wrist-worn accelerometer simulator for Parkinson's rest tremor, with known severity.

Each simulated patient wears a 3-axis accelerometer (in g, ``fs`` Hz) for ``n_weeks`` weeks;
we cut ``windows_per_week`` windows of ``window_s`` seconds per week. Every window holds:

- **gravity** (1 g) along a wrist orientation that drifts slowly within the window;
- **daily activity**: the patient is at rest, walking (arm swing at the step frequency,
  0.8–1.1 Hz, with harmonics — the 4th/5th lands in the tremor band) or doing an everyday task
  (smooth random movements below 3 Hz);
- **rest tremor** at the patient's own frequency (4–6 Hz, with a weak 2nd harmonic) along a
  patient-specific axis. Its amplitude grows exponentially with the severity score
  (0.015 g · e^(0.85 s)), and it is *intermittent*: it comes in bursts whose share of the window
  grows with severity. It is suppressed during movement (to 25% while walking or busy);
- **physiological tremor** (8–12 Hz, tiny) and sensor noise.

The severity is a *relative* score, continuous on 0–4 (0 none, 4 the most severe simulated). It is
not the MDS-UPDRS rest-tremor amplitude item (3.17): that item grades displacement in cm (4: > 10
cm), while the simulated amplitude at score 4 (0.45 g at 5 Hz) is a displacement of about 0.5 cm,
and the simulated progression (+0.06 per week on average) is far faster than observed in Parkinson's.
Each patient starts at a baseline score and progresses linearly week by week, with a daily
medication cycle (better in the hours after a dose). The label of a window is the patient's
true score at that moment. Deterministic by seed, vectorised over windows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from medbench.errors import ConfigError

ACTIVITIES: tuple[str, ...] = ("rest", "walking", "task")
TREMOR_BAND = (4.0, 6.0)


@dataclass
class TremorData:
    """Windows of accelerometer signal and their labels.

    Attributes:
        signals: ``(N, 3, L)`` float32 acceleration in g (x, y, z), ``L = window_s * fs``.
        meta: one row per window: ``patient_id``, ``week``, ``day``, ``hour``, ``activity``,
            ``severity`` (true score at that time), ``tremor_fraction`` (share of the window with
            tremor), ``tremor_hz``.
        patients: one row per patient: ``patient_id``, ``baseline``, ``weekly_change``, ``tremor_hz``.
        fs: sampling rate in Hz.
    """

    signals: np.ndarray
    meta: pd.DataFrame
    patients: pd.DataFrame
    fs: float

    @property
    def severity(self) -> np.ndarray:
        return self.meta["severity"].to_numpy(np.float32)

    def subset(self, mask) -> "TremorData":
        mask = np.asarray(mask)
        return TremorData(self.signals[mask], self.meta[mask].reset_index(drop=True), self.patients, self.fs)


def simulate_tremor(n_patients: int = 40, n_weeks: int = 12, windows_per_week: int = 30, window_s: float = 4.0,
                    fs: float = 50.0, seed: int = 0, noise_g: float = 0.02) -> TremorData:
    """Draw a cohort of tremor recordings.

    Args:
        n_patients: patients.
        n_weeks: weeks of follow-up per patient.
        windows_per_week: windows recorded per patient and week (at random days and hours).
        window_s: window length in seconds.
        fs: sampling rate in Hz (>= 25 so the tremor band is below Nyquist).
        seed: random seed.
        noise_g: standard deviation of the sensor noise in g.

    Returns:
        A :class:`TremorData`.
    """
    if n_patients < 1 or n_weeks < 1 or windows_per_week < 1:
        raise ConfigError("n_patients, n_weeks and windows_per_week must be positive")
    if fs < 25:
        raise ConfigError(f"fs must be at least 25 Hz to sample a 4-6 Hz tremor and its harmonic, got {fs}")
    from scipy.ndimage import uniform_filter1d

    rng = np.random.default_rng(seed)
    L = int(round(window_s * fs))
    t = np.arange(L) / fs

    baseline = rng.uniform(0.3, 3.0, n_patients)
    weekly = rng.normal(0.06, 0.04, n_patients)
    f_trem = rng.uniform(4.0, 6.0, n_patients)
    axis = rng.normal(size=(n_patients, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    med_effect = rng.uniform(0.1, 0.5, n_patients)

    pid = np.repeat(np.arange(n_patients), n_weeks * windows_per_week)
    week = np.tile(np.repeat(np.arange(n_weeks), windows_per_week), n_patients)
    N = len(pid)
    day = rng.integers(0, 7, N)
    hour = rng.uniform(8, 22, N)
    # doses at 8, 13 and 18 h: best ~1 h after a dose, wearing off after ~4 h
    since = np.min(np.stack([np.where(hour >= h, hour - h, 24) for h in (8, 13, 18)]), axis=0)
    wearing = np.clip((since - 1.0) / 4.0, -0.25, 1.0)
    severity = baseline[pid] + weekly[pid] * week + med_effect[pid] * (wearing - 0.5) + rng.normal(0, 0.1, N)
    severity = np.clip(severity, 0.0, 4.0)

    act = rng.choice(len(ACTIVITIES), size=N, p=[0.55, 0.25, 0.20])

    # gravity along a slowly drifting orientation
    g0 = rng.normal(size=(N, 3))
    g0 /= np.linalg.norm(g0, axis=1, keepdims=True)
    drift = rng.normal(0, 0.05, (N, 3))[..., None] * (t / window_s)[None, None, :]
    grav = g0[..., None] + drift
    grav /= np.linalg.norm(grav, axis=1, keepdims=True)

    # intermittent tremor: a random telegraph envelope smoothed to ~0.2 s edges
    on_share = 1.0 / (1.0 + np.exp(-2.2 * (severity - 1.2)))
    n_seg = max(4, int(window_s * 2))
    seg_on = rng.random((N, n_seg)) < on_share[:, None]
    env = np.repeat(seg_on.astype(float), int(np.ceil(L / n_seg)), axis=1)[:, :L]
    k = max(1, int(0.2 * fs))
    env = uniform_filter1d(env, k, axis=1, mode="nearest")
    movement_factor = np.where(act == 0, 1.0, 0.25)
    amp = 0.015 * np.exp(0.85 * severity) * movement_factor
    f = f_trem[pid] * (1 + rng.normal(0, 0.02, N))
    phase = rng.uniform(0, 2 * np.pi, N)
    osc = np.sin(2 * np.pi * f[:, None] * t + phase[:, None]) + 0.15 * np.sin(4 * np.pi * f[:, None] * t + 2 * phase[:, None])
    tremor = (amp[:, None] * env * osc)[:, None, :] * axis[pid][..., None]

    # daily activity
    motion = np.zeros((N, 3, L))
    walk = act == 1
    if walk.any():
        nw = int(walk.sum())
        fstep = rng.uniform(0.8, 1.1, nw)
        ph = rng.uniform(0, 2 * np.pi, (nw, 5))
        harm = sum((0.35 / (h + 1) ** 1.2) * np.sin(2 * np.pi * (h + 1) * fstep[:, None] * t + ph[:, h:h + 1])
                   for h in range(5))
        d = rng.normal(size=(nw, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        motion[walk] = harm[:, None, :] * d[..., None]
    task = act == 2
    if task.any():
        nt = int(task.sum())
        white = rng.normal(0, 1, (nt, 3, L))
        spec = np.fft.rfft(white, axis=-1)
        freqs = np.fft.rfftfreq(L, 1 / fs)
        spec *= (freqs < 3.0) / np.sqrt(L / fs * 3.0)
        motion[task] = 0.25 * np.fft.irfft(spec, n=L, axis=-1)

    physio = 0.004 * np.sin(2 * np.pi * rng.uniform(8, 12, N)[:, None] * t)[:, None, :] * rng.normal(size=(N, 3, 1))
    noise = rng.normal(0, noise_g, (N, 3, L))
    signals = (grav + tremor + motion + physio + noise).astype(np.float32)

    meta = pd.DataFrame({
        "patient_id": pid, "week": week, "day": day, "hour": hour.round(2),
        "activity": pd.Categorical.from_codes(act, ACTIVITIES), "severity": severity,
        "tremor_fraction": env.mean(1), "tremor_hz": f,
    })
    patients = pd.DataFrame({"patient_id": np.arange(n_patients), "baseline": baseline, "weekly_change": weekly,
                             "tremor_hz": f_trem})
    return TremorData(signals, meta, patients, float(fs))


def band_power(signals: np.ndarray, fs: float, band=TREMOR_BAND) -> np.ndarray:
    """Log10 power in ``band`` (Welch PSD, summed over the three axes), ``(N,)``.

    The spectral baseline: it measures how much 4-6 Hz energy a window holds, whatever made it.
    """
    from scipy.signal import welch

    x = signals - signals.mean(axis=-1, keepdims=True)
    nper = min(x.shape[-1], int(2 * fs))
    freqs, psd = welch(x, fs=fs, nperseg=nper, axis=-1)
    sel = (freqs >= band[0]) & (freqs <= band[1])
    power = psd[..., sel].sum(-1).sum(-1) * (freqs[1] - freqs[0])
    return np.log10(power + 1e-12)
