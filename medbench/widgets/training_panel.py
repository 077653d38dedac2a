"""TrainingPanel: choose model, epochs, learning rate and augmentation; train with live curves; stop.

The panel is generic: it calls ``train_fn(config, callbacks)`` where ``config`` is a dict of
the control values (``model``, ``epochs``, ``lr``, ``augment`` unless the panel was built with
``augment=None``, and any ``extra_controls``)
and ``callbacks`` must be passed on to :func:`medbench.training.fit` (directly or through
e.g. ``ImageClassifier(fit_kw={"callbacks": callbacks})``). The panel's callback draws the
loss/metric curves after every epoch, moves the progress bar after every batch and
requests a stop (``state.stop = True``) when the Stop button was pressed.

Training runs in a background thread when ``background=True`` (the default in a live
kernel: the kernel stays responsive, so the Stop button's click arrives while training);
``background=False`` trains synchronously (reports, tests). Tests drive it with
``panel.epochs.value = 3; panel.train_button.click(); panel.wait()``.
"""
from __future__ import annotations

import threading
import traceback
from typing import Any, Callable, Sequence

import ipywidgets as W

from medbench.plots import fig_to_png
from medbench.plots.classification import plot_training_curves
from medbench.training import Callback, FitState


class _PanelCallback(Callback):
    def __init__(self, panel: "TrainingPanel"):
        self.panel = panel

    def on_train_begin(self, state: FitState) -> None:
        p = self.panel
        p.progress.max = max(1, state.epochs * (state.n_batches or 1))
        p.progress.value = 0

    def on_batch_end(self, state: FitState) -> None:
        p = self.panel
        nb = state.n_batches or state.batch
        p.progress.value = min(p.progress.max, (state.epoch - 1) * nb + state.batch)
        p.status.value = f"epoch {state.epoch}/{state.epochs} · batch {state.batch}/{nb} · loss {state.loss:.4f}"
        if p._stop_requested.is_set():
            state.stop = True

    def on_epoch_end(self, state: FitState) -> None:
        p = self.panel
        p.records.append(dict(state.record))
        p._draw()
        if p._stop_requested.is_set():
            state.stop = True


class TrainingPanel(W.VBox):
    """Controls (model, epochs, learning rate, augmentation), Train/Stop buttons, progress and live curves.

    Args:
        train_fn: ``train_fn(config: dict, callbacks: list) -> result``; ``result`` is kept in
            :attr:`result` (e.g. a fitted classifier).
        models: model names offered in the dropdown.
        epochs, lr: initial control values.
        augment: initial value of the augmentation checkbox; ``None`` when the task has no
            augmentation to switch (e.g. tabular sequences): no checkbox is shown,
            :attr:`augment` is ``None`` and ``config`` has no ``"augment"`` key.
        metrics: record keys drawn in the metric panel (e.g. ``("val_auroc",)``).
        extra_controls: ``{name: widget}`` whose ``.value`` is added to ``config``.
        background: train in a thread (live kernels) or synchronously.

    Attributes:
        records: per-epoch records of the current/last run (live).
        result: what ``train_fn`` returned in the last finished run.
        error: the traceback text if the last run failed.
    """

    def __init__(self, train_fn: Callable[[dict, list], Any], models: Sequence[str] = ("small_cnn",),
                 epochs: int = 10, lr: float = 1e-3, augment: bool | None = True, metrics: Sequence[str] = ("val_auroc",),
                 extra_controls: dict[str, W.ValueWidget] | None = None, background: bool = True):
        style = {"description_width": "100px"}
        self.train_fn, self.metrics, self.background = train_fn, tuple(metrics), background
        self.model = W.Dropdown(options=list(models), value=list(models)[0], description="model", style=style)
        self.epochs = W.IntSlider(value=epochs, min=1, max=max(100, epochs), description="epochs", style=style)
        self.lr = W.FloatLogSlider(value=lr, base=10, min=-5, max=-1, step=0.1, readout_format=".1e",
                                   description="learning rate", style=style)
        self.augment = (None if augment is None
                        else W.Checkbox(value=bool(augment), description="augmentation", style=style))
        self.extra_controls = dict(extra_controls or {})
        self.train_button = W.Button(description="Train", button_style="success", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.progress = W.IntProgress(value=0, min=0, max=1, description="progress", style=style)
        self.status = W.HTML("ready")
        self.image = W.Image(format="png", layout=W.Layout(width="640px"))
        self.records: list[dict] = []
        self.result: Any = None
        self.error: str | None = None
        self._stop_requested = threading.Event()
        self._thread: threading.Thread | None = None
        self.train_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self.stop())
        switches = [self.augment] if self.augment is not None else []
        controls = [self.model, self.epochs, self.lr, *switches, *self.extra_controls.values(),
                    W.HBox([self.train_button, self.stop_button]), self.progress, self.status]
        super().__init__([W.HBox([W.VBox(controls), self.image])])
        self._draw()

    # ---------------------------------------------------------------- state
    @property
    def config(self) -> dict:
        """The values ``train_fn`` receives."""
        cfg = {"model": self.model.value, "epochs": int(self.epochs.value), "lr": float(self.lr.value)}
        if self.augment is not None:
            cfg["augment"] = bool(self.augment.value)
        cfg.update({k: w.value for k, w in self.extra_controls.items()})
        return cfg

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _draw(self) -> None:
        fig = plot_training_curves(self.records, metrics=self.metrics)
        self.image.value = fig_to_png(fig, dpi=80)

    def show_records(self, records: Sequence[dict], note: str = "") -> None:
        """Draw the curves of an earlier run (e.g. ``History.records``) without training."""
        self.records = [dict(r) for r in records]
        self.progress.max = max(1, len(self.records))
        self.progress.value = len(self.records)
        self.status.value = note or f"showing {len(self.records)} epochs of an earlier run"
        self._draw()

    # ---------------------------------------------------------------- actions
    def start(self) -> None:
        """What the Train button does: reset the curves and train with the current settings."""
        if self.running:
            return
        self.records, self.error = [], None
        self._stop_requested.clear()
        self.train_button.disabled, self.stop_button.disabled = True, False
        self.status.value = "starting..."
        self._draw()
        if self.background:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        else:
            self._run()

    def stop(self) -> None:
        """What the Stop button does: ask the running fit to stop after the current batch."""
        self._stop_requested.set()
        self.status.value = "stopping after this batch..."

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a background run ends; True if it has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def _run(self) -> None:
        try:
            self.result = self.train_fn(self.config, [_PanelCallback(self)])
            last = self.records[-1] if self.records else {}
            shown = ", ".join(f"{k} {last[k]:.4f}" for k in ("train_loss", "val_loss", *self.metrics) if k in last)
            verb = "stopped" if self._stop_requested.is_set() else "done"
            self.status.value = f"{verb}: {len(self.records)} epochs; {shown}"
        except Exception:  # shown in the panel; a thread must not die silently
            self.error = traceback.format_exc()
            self.status.value = f"<span style='color:#b00'>failed: {self.error.strip().splitlines()[-1]}</span>"
        finally:
            self.train_button.disabled, self.stop_button.disabled = False, True
            self._draw()
