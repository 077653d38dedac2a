"""WhyPanel: a clinician's "why?" for one CT patch or one patient, beside the truth.

Pick a case and a method: a CT patch shows the attribution overlaid on the patch with the
nodule outline and the model's probability; an EHR patient shows the method's per-factor
contributions beside the simulator's true ones (a bar chart) and the predicted risk.
Image maps are computed on demand with :func:`medbench.tasks.explain.explain` (one patch: well
under a second for the gradient methods and occlusion on a CPU) and cached.
Drive it from code: ``p.case.value = 3; p.method.value = "occlusion"``; the figure's PNG is
``p.image.value``, the caption ``p.caption.value``.
"""
from __future__ import annotations

from typing import Sequence

import ipywidgets as W
import numpy as np

from medbench.errors import ConfigError, DataError

__all__ = ["WhyPanel"]


class WhyPanel(W.VBox):
    """Explain one case at a time, next to the truth.

    Args:
        model: for patches, a fitted ImageClassifier (or a module taking the images as given).
        images: ``(N, 1, H, W)`` HU patches; masks: ``(N, H, W)`` their lesions (or ``None``).
        methods: methods offered (:data:`medbench.tasks.explain.METHODS`).
        ehr: instead of patches, an :class:`~medbench.tasks.explain_tabular.EHRExplanations`
            (its methods with per-patient contributions are offered).
        explain_kw: passed to ``explain`` for patches.
    """

    def __init__(self, model=None, images=None, masks=None, methods: Sequence[str] = ("saliency", "occlusion"),
                 *, ehr=None, explain_kw: dict | None = None):
        if (ehr is None) == (images is None):
            raise ConfigError("give either images (with model) or ehr=, not both")
        self.model, self.ehr, self.explain_kw = model, ehr, dict(explain_kw or {})
        if ehr is None:
            from medbench.tasks.explain import METHODS

            self.images = np.asarray(images, dtype=np.float32)
            if self.images.ndim != 4:
                raise DataError(f"images must be (N, 1, H, W), got {self.images.shape}")
            self.masks = None if masks is None else np.asarray(masks, bool)
            bad = [m for m in methods if m not in METHODS]
            if bad or model is None:
                raise ConfigError(f"unknown methods {bad} (use {METHODS}) or no model given")
            n = len(self.images)
            self.probs = self._probabilities()
        else:
            methods = [m for m in methods if m in ehr.per_patient] or list(ehr.per_patient)
            n = len(ehr.truth)
        self._cache: dict[tuple[int, str], np.ndarray] = {}
        self.case = W.IntSlider(value=0, min=0, max=n - 1, description="case")
        self.method = W.Dropdown(options=list(methods), value=list(methods)[0], description="method")
        self.image = W.Image(format="png")
        self.caption = W.HTML()
        self.case.observe(lambda _: self.update(), names="value")
        self.method.observe(lambda _: self.update(), names="value")
        super().__init__([W.HBox([self.case, self.method]), self.image, self.caption])
        self.update()

    def _probabilities(self) -> np.ndarray:
        import torch

        from medbench.tasks.explain import model_inputs

        if hasattr(self.model, "predict_score"):
            return np.asarray(self.model.predict_score(self.images), dtype=float)
        with torch.no_grad():
            return torch.softmax(self.model(model_inputs(self.model, self.images)), 1)[:, 1].numpy()

    def attribution(self, case: int, method: str) -> np.ndarray:
        """The (cached) map ``(C, H, W)`` of one patch, or the ``(K,)`` factor contributions of one patient."""
        key = (int(case), method)
        if key not in self._cache:
            if self.ehr is not None:
                self._cache[key] = self.ehr.per_patient[method].iloc[case].to_numpy()
            else:
                from medbench.tasks.explain import explain

                self._cache[key] = explain(self.model, self.images[case:case + 1], method, **self.explain_kw)[0]
        return self._cache[key]

    def figure(self):
        """The static figure of the current case and method (what the widget shows)."""
        import matplotlib.pyplot as plt

        from medbench.plots.attribution import factor_bars, overlay

        i, m = int(self.case.value), self.method.value
        a = self.attribution(i, m)
        if self.ehr is not None:
            truth = self.ehr.truth.iloc[i]
            p = self.ehr.probabilities.get(m)
            return factor_bars(truth.to_dict(), dict(zip(truth.index, a)), method=m,
                               probability=None if p is None else float(p[i]))
        fig, ax = plt.subplots(figsize=(3.2, 3.4))
        overlay(ax, self.images[i], a, None if self.masks is None else self.masks[i],
                title=f"{m}: P(class 1) = {self.probs[i]:.2f}")
        return fig

    def update(self) -> None:
        from medbench.metrics.attribution import pointing_game, relevance_mass
        from medbench.plots import fig_to_png

        self.image.value = fig_to_png(self.figure(), dpi=80)
        i, m = int(self.case.value), self.method.value
        if self.ehr is not None:
            t = self.ehr.truth.iloc[i]
            top = ", ".join(t.abs().sort_values(ascending=False).index[:3])
            self.caption.value = f"patient {int(self.ehr.patient_ids[i])}: true top-3 factors <b>{top}</b>"
        elif self.masks is not None and self.masks[i].any():
            a = self.attribution(i, m).sum(0)[None]
            hit = pointing_game(a, self.masks[i][None])
            rm = relevance_mass(a, self.masks[i][None])
            self.caption.value = (f"maximum {'inside' if hit else 'outside'} the nodule; "
                                  f"{rm:.0%} of the positive relevance inside it ({self.masks[i].mean():.0%} of the patch)")
        else:
            self.caption.value = "no lesion in this patch: nothing to point at"
