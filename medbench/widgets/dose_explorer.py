"""Chapter 05 widgets: a dose explorer and a GAN training panel that shows samples as it trains.

State and handlers are plain Python: ``explorer.age.value = 8`` redraws and updates
``explorer.samples`` / ``explorer.iwpc``; ``panel.train_button.click()`` trains synchronously
(``background=False``) and fills ``panel.history`` and ``panel.result``.
"""
from __future__ import annotations

import threading
import traceback
from typing import Callable, Mapping

import ipywidgets as W
import numpy as np
import pandas as pd

from medbench.data.warfarin import CYP2C9, RACES, VKORC1
from medbench.plots import fig_to_png
from medbench.plots.generative import describe_patient, plot_dose_distribution, plot_gan_losses
from medbench.tasks.dosing import iwpc_dose, sample_doses

__all__ = ["DoseExplorer", "GANPanel", "patient_row"]


def patient_row(age_decade: int = 6, height_cm: float = 170.0, weight_kg: float = 80.0, race: str = "White",
                vkorc1: str = "A/G", cyp2c9: str = "*1/*1", amiodarone: bool = False,
                inducer: bool = False) -> pd.DataFrame:
    """A one-patient table with the covariate columns the dosing models read."""
    return pd.DataFrame([{"age_decade": int(age_decade), "height_cm": float(height_cm), "weight_kg": float(weight_kg),
                          "race": race, "vkorc1": vkorc1, "cyp2c9": cyp2c9, "amiodarone": int(bool(amiodarone)),
                          "inducer": int(bool(inducer))}])


class DoseExplorer(W.VBox):
    """Sliders and dropdowns for one patient -> each model's dose distribution and the IWPC dose.

    Args:
        models: ``{name: conditional model with .sample(c, n)}`` (e.g. the CVAE and the cGAN).
        scaler: the training :class:`medbench.tasks.dosing.CovariateScaler`.
        n_samples: draws per model and update.
        seed: sampling seed (the same patient always shows the same draws).

    Attributes:
        samples: ``{name: (n_samples,) doses}`` for the current patient; iwpc: its IWPC dose.
    """

    def __init__(self, models: Mapping, scaler, n_samples: int = 2000, seed: int = 0):
        self.models, self.scaler, self.n_samples, self.seed = dict(models), scaler, int(n_samples), seed
        st = {"description_width": "110px"}
        self.age = W.IntSlider(value=6, min=1, max=9, description="age (decade)", style=st)
        self.height = W.FloatSlider(value=170, min=130, max=210, step=1, description="height (cm)", style=st)
        self.weight = W.FloatSlider(value=80, min=35, max=180, step=1, description="weight (kg)", style=st)
        self.race = W.Dropdown(options=list(RACES), value="White", description="race (OMB)", style=st)
        self.vkorc1 = W.Dropdown(options=list(VKORC1), value="A/G", description="VKORC1 -1639", style=st)
        self.cyp2c9 = W.Dropdown(options=list(CYP2C9), value="*1/*1", description="CYP2C9", style=st)
        self.amiodarone = W.Checkbox(value=False, description="amiodarone", style=st)
        self.inducer = W.Checkbox(value=False, description="enzyme inducer", style=st)
        self.image = W.Image(format="png")
        self.summary = W.HTML()
        self.controls = [self.age, self.height, self.weight, self.race, self.vkorc1, self.cyp2c9, self.amiodarone,
                         self.inducer]
        for c in self.controls:
            c.observe(lambda _change: self.update(), names="value")
        super().__init__([W.HBox([W.VBox(self.controls[:4]), W.VBox(self.controls[4:])]), self.summary, self.image])
        self.update()

    def patient(self) -> pd.DataFrame:
        """The current patient as a one-row table."""
        return patient_row(self.age.value, self.height.value, self.weight.value, self.race.value, self.vkorc1.value,
                           self.cyp2c9.value, self.amiodarone.value, self.inducer.value)

    def update(self) -> None:
        """Sample every model for the current patient and redraw."""
        row = self.patient()
        self.iwpc = float(iwpc_dose(row)[0])
        self.samples = {name: sample_doses(m, row, self.scaler, self.n_samples, seed=self.seed)[0]
                        for name, m in self.models.items()}
        parts = [f"IWPC equation <b>{self.iwpc:.1f}</b> mg/week"]
        for name, s in self.samples.items():
            lo, med, hi = np.quantile(s, [0.1, 0.5, 0.9])
            parts.append(f"{name}: median <b>{med:.1f}</b>, 80% interval {lo:.1f}-{hi:.1f}")
        self.summary.value = " &middot; ".join(parts)
        fig = plot_dose_distribution(self.samples, iwpc=self.iwpc, title=describe_patient(row.iloc[0]))
        self.image.value = fig_to_png(fig)


class GANPanel(W.VBox):
    """Epochs slider, Train/Stop, and after every epoch the D/G losses and a histogram of generated
    doses for one reference patient (so the distribution is seen forming).

    Args:
        train_fn: ``train_fn(epochs, callback) -> (generator, discriminator, history)``, where
            ``callback(epoch, history, generator)`` must be called after every epoch (e.g. a
            wrapper of :func:`medbench.tasks.dosing.train_cgan`); raising :class:`StopTraining` in
            the callback ends the run early.
        sample_fn: ``sample_fn(generator) -> (S,) doses`` for the reference patient.
        epochs: initial value; background: train in a thread (live kernels) or synchronously.
        draw_every: redraw every this many epochs.
    """

    class StopTraining(Exception):
        """Raised inside the callback when Stop was pressed."""

    def __init__(self, train_fn: Callable, sample_fn: Callable, epochs: int = 150, background: bool = True,
                 draw_every: int = 10):
        self.train_fn, self.sample_fn, self.background, self.draw_every = train_fn, sample_fn, background, draw_every
        self.epochs = W.IntSlider(value=epochs, min=1, max=max(400, epochs), description="epochs")
        self.train_button = W.Button(description="Train", button_style="primary")
        self.stop_button = W.Button(description="Stop")
        self.status = W.HTML()
        self.image = W.Image(format="png")
        self.history, self.result, self.error, self._thread = None, None, None, None
        self._stop = threading.Event()
        self.train_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self._stop.set())
        super().__init__([W.HBox([self.epochs, self.train_button, self.stop_button]), self.status, self.image])

    def _callback(self, epoch, history, generator) -> None:
        self.history = history
        self.status.value = (f"epoch {epoch}/{self.epochs.value} &middot; D loss {history.d_loss[-1]:.3f} "
                             f"&middot; G loss {history.g_loss[-1]:.3f}")
        if epoch % self.draw_every == 0 or epoch == self.epochs.value:
            self.draw(generator)
        if self._stop.is_set():
            raise GANPanel.StopTraining

    def draw(self, generator) -> None:
        """Redraw the losses and the reference patient's generated doses."""
        import matplotlib.pyplot as plt

        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3))
        plot_gan_losses(self.history, ax=a)
        plot_dose_distribution({"cgan": self.sample_fn(generator)}, ax=b, title="reference patient")
        self.image.value = fig_to_png(fig)

    def _run(self) -> None:
        try:
            self.result = self.train_fn(self.epochs.value, self._callback)
            self.status.value += " &middot; done"
        except GANPanel.StopTraining:
            self.status.value += " &middot; stopped"
        except Exception:  # shown in the panel, kept for tests
            self.error = traceback.format_exc()
            self.status.value = f"<pre>{self.error[-800:]}</pre>"

    def start(self) -> None:
        """Train (in a thread when ``background``)."""
        self._stop.clear()
        self.error = None
        if self.background:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        else:
            self._run()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background run; True when finished."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True
