"""OptimizerExplorer: pick a loss surface and optimizers, watch their trajectories."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from medbench.plots import fig_to_png
from medbench.plots.foundations import OPTIMIZER_LABELS, plot_trajectories
from medbench.teaching.optimizers import OPTIMIZERS
from medbench.teaching.surfaces import SURFACES, trajectory


class OptimizerExplorer(W.VBox):
    """Controls for surface, optimizers, learning rate, momentum and Adam's betas, and an image.

    The picture is re-rendered on every control change. ``paths`` holds the last
    trajectories (optimizer name -> ``(T, 2)`` array) for tests and further analysis.
    """

    def __init__(self, surface: str = "ill_conditioned", optimizers=("sgd", "momentum", "adam"),
                 lr: float = 0.03, momentum: float = 0.9, beta1: float = 0.9, beta2: float = 0.999,
                 steps: int = 100):
        style = {"description_width": "90px"}
        self.surface = W.Dropdown(options=list(SURFACES), value=surface, description="surface", style=style)
        # values stay "sgd"/"momentum"/"adam"; labels say that full-batch "sgd" is gradient descent
        self.optimizers = W.SelectMultiple(options=[(OPTIMIZER_LABELS.get(n, n), n) for n in OPTIMIZERS],
                                           value=tuple(optimizers),
                                           description="optimizers", rows=3, style=style)
        self.lr = W.FloatLogSlider(value=lr, base=10, min=-4, max=0, step=0.1, description="learning rate",
                                   readout_format=".4f", style=style)
        self.momentum = W.FloatSlider(value=momentum, min=0.0, max=0.99, step=0.01, description="momentum", style=style)
        self.beta1 = W.FloatSlider(value=beta1, min=0.0, max=0.99, step=0.01, description="Adam beta1", style=style)
        self.beta2 = W.FloatSlider(value=beta2, min=0.9, max=0.9999, step=0.0001, readout_format=".4f",
                                   description="Adam beta2", style=style)
        self.steps = W.IntSlider(value=steps, min=10, max=1000, step=10, description="steps", style=style)
        self.image = W.Image(format="png", layout=W.Layout(width="560px"))
        self.status = W.HTML()
        self.paths: dict[str, np.ndarray] = {}
        for control in self.controls:
            control.observe(self._on_change, names="value")
        super().__init__([W.HBox([W.VBox(self.controls), W.VBox([self.image, self.status])])])
        self.update()

    @property
    def controls(self) -> list[W.Widget]:
        return [self.surface, self.optimizers, self.lr, self.momentum, self.beta1, self.beta2, self.steps]

    def hyperparameters(self, name: str) -> dict:
        """The keyword arguments each optimizer gets from the current control values."""
        if name == "momentum":
            return {"lr": self.lr.value, "momentum": self.momentum.value}
        if name == "adam":
            return {"lr": self.lr.value, "betas": (self.beta1.value, self.beta2.value)}
        return {"lr": self.lr.value}

    def _on_change(self, _change) -> None:
        self.update()

    def update(self) -> None:
        """Recompute every selected optimizer's trajectory and redraw the picture."""
        self.paths = {
            name: trajectory(self.surface.value, name, steps=self.steps.value, **self.hyperparameters(name))
            for name in self.optimizers.value
        }
        self.image.value = fig_to_png(plot_trajectories(self.surface.value, self.paths), dpi=90)
        diverged = [n for n, p in self.paths.items() if len(p) < self.steps.value + 1]
        self.status.value = (f"<span style='color:#b00'>diverged: {', '.join(diverged)}</span>"
                             if diverged else "all optimizers stayed finite")
