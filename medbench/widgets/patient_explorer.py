"""Chapter 04 widgets: a patient timeline explorer and a what-if panel for risk factors.

Both take a simulated :class:`medbench.data.ehr.EHRCohort`, a fitted
:class:`medbench.data.sequences.SequenceScaler` and a trained multi-task
:class:`medbench.models.recurrent.RecurrentClassifier` (risks from
:func:`medbench.tasks.disease.predict_risk`). Their state and handlers are plain
Python: set ``explorer.patient.value = 17`` or ``panel.sbp.value = 20`` and read
``explorer.risk_steps`` / ``panel.model_risk``.
"""
from __future__ import annotations

import ipywidgets as W
import numpy as np
import pandas as pd

from medbench.data.ehr import true_risk
from medbench.data.sequences import to_tensors
from medbench.plots import fig_to_png
from medbench.plots.ehr import plot_patient_history
from medbench.tasks.disease import predict_risk

#: Shown above the what-if controls: what a moved model risk means, and what it does not.
WHATIF_CAVEAT = (
    "<b>Association in this model, not causation.</b> The model's column shows how its prediction "
    "moves when the recorded values change; it is not what would happen if this patient's blood "
    "pressure, glucose, LDL or weight were lowered. In observational records treatment follows high "
    "values (confounding by indication) and risk factors travel together, so a model can learn links "
    "that an intervention would not reproduce. Only the simulator's truth column is causal, because the "
    "simulator's formula is known; real data have no such column."
)


def _tensors(observations, cohort, pid, scaler, variables, outcomes, max_len):
    return to_tensors(observations, cohort.patients, [pid], scaler, variables, outcomes,
                      window_years=cohort.window_years, max_len=max_len)


class PatientExplorer(W.VBox):
    """Pick a patient: their variables over time and the model's risk after each visit.

    Args:
        cohort: the simulated cohort.
        model: a trained multi-task recurrent classifier (``n_tasks == len(outcomes)``).
        scaler: the scaler fitted on the training patients.
        variables: the variables the model was trained on.
        outcomes: names of the model's outputs.
        patient_ids: the patients offered (e.g. the test split).
        max_len: the ``max_len`` used for training.
    """

    def __init__(self, cohort, model, scaler, variables, outcomes, patient_ids, max_len=None):
        self.cohort, self.model, self.scaler = cohort, model, scaler
        self.variables, self.outcomes, self.max_len = list(variables), list(outcomes), max_len
        ids = [int(i) for i in patient_ids]
        self.patient = W.Dropdown(options=ids, value=ids[0], description="patient")
        self.image = W.Image(format="png", layout=W.Layout(width="620px"))
        self.info = W.HTML()
        self.risk_steps: dict[str, np.ndarray] = {}
        self.patient.observe(lambda _c: self.update(), names="value")
        super().__init__([self.patient, self.info, self.image])
        self.update()

    def update(self) -> None:
        """Recompute the risk trajectory of the selected patient and redraw."""
        pid = self.patient.value
        d = _tensors(self.cohort.observations, self.cohort, pid, self.scaler, self.variables, (), self.max_len)
        steps = predict_risk(self.model, d.X, d.lengths, per_step=True)[0, : d.lengths[0]]
        times = d.times[0, : d.lengths[0]]
        self.risk_steps = {o: steps[:, j] for j, o in enumerate(self.outcomes)}
        row = self.cohort.patients.set_index("patient_id").loc[pid]
        truth = ", ".join(f"{o}: true risk {row[f'risk_{o}']:.2f}, outcome {int(row[o])}" for o in self.outcomes)
        self.info.value = f"<b>{row['sex']}, {row['age']:.0f} y</b>, {int(row['n_visits'])} visits — {truth}"
        fig = plot_patient_history(self.cohort.history(pid), self.risk_steps, times,
                                   window_years=self.cohort.window_years, title=f"patient {pid}")
        self.image.value = fig_to_png(fig, dpi=80)


class WhatIfPanel(W.VBox):
    """Change one patient's risk factors and watch the model's (and the simulator's true) risk move.

    The sliders shift every recorded value of a variable (SBP in mmHg, glucose in mmol/L — with
    HbA1c moved consistently —, LDL in mmol/L, BMI in kg/m²) and the checkbox sets smoking.
    The simulator's true risk is recomputed from the same shifts of its latent features, so the
    reader sees whether the model moves the way the truth does. Treatments stay as recorded.

    A visible caveat (:data:`WHATIF_CAVEAT`, ``panel.caveat``) says what the model's column is:
    an association learnt from observational records, not the effect of changing the factor.
    """

    def __init__(self, cohort, model, scaler, variables, outcomes, patient_id: int, max_len=None):
        self.cohort, self.model, self.scaler = cohort, model, scaler
        self.variables, self.outcomes, self.max_len = list(variables), list(outcomes), max_len
        self.patient = W.Dropdown(options=[int(patient_id)], value=int(patient_id), description="patient")
        style = {"description_width": "130px"}
        self.sbp = W.FloatSlider(value=0, min=-30, max=30, step=5, description="SBP shift (mmHg)", style=style)
        self.glucose = W.FloatSlider(value=0, min=-1.5, max=1.5, step=0.25, description="glucose shift", style=style)
        self.ldl = W.FloatSlider(value=0, min=-1.5, max=1.5, step=0.25, description="LDL shift", style=style)
        self.bmi = W.FloatSlider(value=0, min=-6, max=6, step=1, description="BMI shift", style=style)
        row = cohort.latent.set_index("patient_id").loc[int(patient_id)]
        self.smoker = W.Checkbox(value=bool(row["smoker"]), description="smoker")
        self.table = W.HTML()
        self.image = W.Image(format="png", layout=W.Layout(width="420px"))
        self.caveat = W.HTML(WHATIF_CAVEAT, layout=W.Layout(max_width="640px", border="1px solid #d08000",
                                                            padding="4px"))
        self.model_risk: dict[str, float] = {}
        self.true_risk: dict[str, float] = {}
        for c in self.controls:
            c.observe(lambda _c: self.update(), names="value")
        super().__init__([self.caveat,
                          W.HBox([W.VBox([self.patient, *self.controls]), W.VBox([self.table, self.image])])])
        self.update()

    @property
    def controls(self):
        return [self.sbp, self.glucose, self.ldl, self.bmi, self.smoker]

    def set_patient(self, patient_id: int) -> None:
        self.patient.options = sorted(set(self.patient.options) | {int(patient_id)})
        self.patient.value = int(patient_id)
        self.update()

    def modified_observations(self) -> pd.DataFrame:
        """The patient's long-table rows with the current shifts applied."""
        obs = self.cohort.observations
        rows = obs[obs["patient_id"] == self.patient.value].copy()
        var = rows["variable"].astype(str)
        shifts = {"sbp": self.sbp.value, "glucose": self.glucose.value, "hba1c": 18 * self.glucose.value / 28.7,
                  "ldl": self.ldl.value, "bmi": self.bmi.value}
        for v, s in shifts.items():
            rows.loc[var == v, "value"] += s
        rows.loc[var == "smoking", "value"] = float(self.smoker.value)
        return rows

    def update(self) -> None:
        pid = self.patient.value
        d = _tensors(self.modified_observations(), self.cohort, pid, self.scaler, self.variables, (), self.max_len)
        p = predict_risk(self.model, d.X, d.lengths)[0]
        self.model_risk = {o: float(p[j]) for j, o in enumerate(self.outcomes)}
        lat = self.cohort.latent[self.cohort.latent["patient_id"] == pid].copy()
        lat["sbp_W"] += self.sbp.value
        lat["glucose_W"] += self.glucose.value
        lat["ldl_W"] += self.ldl.value
        lat["bmi_W"] += self.bmi.value
        lat["smoker"] = float(self.smoker.value)
        truth = true_risk(lat, self.cohort.intercepts)
        self.true_risk = {o: float(truth[o][0]) for o in self.outcomes}
        base = self.cohort.patients.set_index("patient_id").loc[pid]
        rows = "".join(f"<tr><td>{o}</td><td>{self.model_risk[o]:.3f}</td><td>{self.true_risk[o]:.3f}</td>"
                       f"<td>{base[f'risk_{o}']:.3f}</td></tr>" for o in self.outcomes)
        self.table.value = ("<table><tr><th>outcome</th><th>model (association)</th><th>true (what-if)</th>"
                            f"<th>true (as recorded)</th></tr>{rows}</table>")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.2, 2.4))
        x = np.arange(len(self.outcomes))
        ax.bar(x - 0.2, [self.model_risk[o] for o in self.outcomes], 0.4, label="model")
        ax.bar(x + 0.2, [self.true_risk[o] for o in self.outcomes], 0.4, label="simulator truth")
        ax.set_xticks(x, self.outcomes)
        ax.set_ylim(0, 1)
        ax.set_ylabel("risk within horizon")
        ax.legend(fontsize=7)
        fig.tight_layout()
        self.image.value = fig_to_png(fig, dpi=80)
