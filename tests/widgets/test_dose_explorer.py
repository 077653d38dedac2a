from __future__ import annotations

import numpy as np
import pytest
import torch

from medbench.data.warfarin import simulate_warfarin
from medbench.tasks import dosing
from medbench.widgets.dose_explorer import DoseExplorer, GANPanel, patient_row


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    sim = simulate_warfarin(800, seed=0)
    tr, va = sim.part("train"), sim.part("val")
    sc = dosing.CovariateScaler().fit(tr)
    cvae, _ = dosing.train_cvae(tr, va, sc, epochs=15, seed=0)
    return tr, sc, cvae


def test_explorer_updates_when_a_control_moves(trained):
    tr, sc, cvae = trained
    ex = DoseExplorer({"cvae": cvae}, sc, n_samples=400)
    assert ex.samples["cvae"].shape == (400,) and ex.image.value[:4] == b"\x89PNG"
    before_iwpc, before = ex.iwpc, np.median(ex.samples["cvae"])
    ex.vkorc1.value = "A/A"  # the sensitive genotype: the equation and the model both lower the dose
    assert ex.iwpc < before_iwpc
    assert np.median(ex.samples["cvae"]) < before
    assert ex.iwpc == pytest.approx(float(dosing.iwpc_dose(patient_row(vkorc1="A/A"))[0]))
    assert "IWPC equation" in ex.summary.value


def test_gan_panel_trains_synchronously_and_shows_samples(trained):
    tr, sc, _ = trained
    ref = patient_row()

    def train_fn(epochs, callback):
        return dosing.train_cgan(tr, sc, epochs=epochs, seed=0, callback=callback)

    panel = GANPanel(train_fn, lambda g: dosing.sample_doses(g, ref, sc, 300)[0], epochs=4, background=False,
                     draw_every=2)
    panel.train_button.click()
    assert panel.error is None, panel.error
    G, D, hist = panel.result
    assert len(hist.g_loss) == 4 and panel.image.value[:4] == b"\x89PNG" and "done" in panel.status.value
    # Stop ends the run early
    panel.epochs.value = 50
    panel.stop_button.click()  # a press before the run is cleared by start(); press during the run:
    orig = panel._callback

    def stop_at_2(epoch, history, generator):
        if epoch == 2:
            panel._stop.set()
        orig(epoch, history, generator)

    panel._callback = stop_at_2
    panel.train_button.click()
    assert "stopped" in panel.status.value and len(panel.history.g_loss) == 2
