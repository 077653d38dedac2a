"""TrainingPanel (train, live curves, stop) and PredictionBrowser, driven as plain Python."""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from medbench.metrics import torch_metric
from medbench.training import fit
from medbench.widgets.prediction_browser import PredictionBrowser
from medbench.widgets.training_panel import TrainingPanel


def toy_train_fn(seen):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(160, 6, generator=g)
    y = (x[:, 0] > 0).long()

    def train(config, callbacks):
        seen.append(config)
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
        train = DataLoader(TensorDataset(x[:128], y[:128]), batch_size=16, shuffle=True)
        val = DataLoader(TensorDataset(x[128:], y[128:]), batch_size=32)
        fit(model, train, val, loss_fn=nn.CrossEntropyLoss(), epochs=config["epochs"], lr=config["lr"],
            metrics={"auroc": torch_metric("auroc")}, callbacks=callbacks, progress=False, precision="fp32")
        return model

    return train


def test_panel_trains_with_control_values_and_draws_curves():
    seen = []
    extra = {"hidden": __import__("ipywidgets").IntSlider(value=8)}
    panel = TrainingPanel(toy_train_fn(seen), models=("small_cnn", "resnet18"), epochs=5, lr=1e-2,
                          extra_controls=extra, background=False)
    blank = panel.image.value
    panel.epochs.value = 3
    panel.model.value = "resnet18"
    panel.augment.value = False
    panel.train_button.click()
    assert seen == [{"model": "resnet18", "epochs": 3, "lr": panel.lr.value, "augment": False, "hidden": 8}]
    assert [r["epoch"] for r in panel.records] == [1, 2, 3]
    assert "val_auroc" in panel.records[-1] and panel.progress.value == panel.progress.max == 3 * 8
    assert panel.image.value != blank and panel.image.value[:4] == b"\x89PNG"
    assert isinstance(panel.result, nn.Module) and panel.error is None
    assert panel.status.value.startswith("done: 3 epochs")
    assert not panel.train_button.disabled and panel.stop_button.disabled


def test_panel_without_augmentation_shows_no_checkbox():
    """augment=None: tasks with nothing to augment (sequences) get no checkbox and no "augment" key."""
    import ipywidgets as W

    seen = []
    panel = TrainingPanel(toy_train_fn(seen), models=("lstm", "gru"), epochs=2, lr=1e-2, augment=None,
                          metrics=("val_auroc",), background=False)
    assert panel.augment is None
    descriptions = [w.description for w in panel.children[0].children[0].children if isinstance(w, W.Checkbox)]
    assert "augmentation" not in descriptions
    panel.model.value = "gru"
    panel.train_button.click()
    assert seen == [{"model": "gru", "epochs": 2, "lr": panel.lr.value}]
    assert panel.error is None and [r["epoch"] for r in panel.records] == [1, 2]
    with_box = TrainingPanel(toy_train_fn([]), augment=False, background=False)  # other callers: unchanged
    assert with_box.augment in with_box.children[0].children[0].children
    assert with_box.config["augment"] is False and with_box.augment.value is False


def test_stop_button_stops_a_background_run():
    panel = TrainingPanel(toy_train_fn([]), epochs=100, background=True)
    panel.train_button.click()
    deadline = time.time() + 60
    while not panel.records and time.time() < deadline:
        time.sleep(0.02)
    assert panel.running and panel.train_button.disabled and not panel.stop_button.disabled
    panel.stop_button.click()
    assert panel.wait(60)
    assert 1 <= len(panel.records) < 100
    assert panel.status.value.startswith("stopped")


def test_failing_train_fn_is_reported_not_raised():
    def broken(config, callbacks):
        raise RuntimeError("out of data")

    panel = TrainingPanel(broken, background=False)
    panel.train_button.click()
    assert "out of data" in panel.error and "failed" in panel.status.value
    assert not panel.train_button.disabled


def test_prediction_browser_filters_and_orders():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(20, 1, 8, 8)).astype(np.float32)
    labels = np.array([0, 1] * 10)
    probs = np.linspace(0.02, 0.98, 20)
    b = PredictionBrowser(images, labels, probs, class_names=("tissue", "nodule"), ids=np.arange(20) // 4)
    assert b.current == 0 and "truth: <b>tissue</b>" in b.info.value and b.image.value[:4] == b"\x89PNG"
    b.view.value = "errors"
    errors = np.flatnonzero(labels != (probs >= 0.5))
    assert sorted(b.indices) == list(errors)
    b.order.value = "most confident"
    first = b.current
    assert abs(probs[first] - 0.5) == max(abs(probs[errors] - 0.5)) and "wrong" in b.info.value
    b.position.value = 1
    assert b.current == b.indices[1]
    b.view.value = "false negatives"
    assert all(labels[i] == 1 and probs[i] < 0.5 for i in b.indices)
    b.view.value = "all"
    b.order.value = "most uncertain"
    assert abs(probs[b.current] - 0.5) == min(abs(probs - 0.5))
