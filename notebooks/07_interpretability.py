# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Interpretability, measured against the truth
#
# **Learning objectives.** After this chapter you can
# - compute saliency, Integrated Gradients, SmoothGrad, Grad-CAM, occlusion, LIME and KernelSHAP
#   maps for a CT classifier with `captum` and `monai.visualize`, through one call
#   (`medbench.tasks.explain.explain`);
# - **score** an explanation where the truth is known: the pointing game (is the map's maximum
#   inside the nodule?) and the relevance mass inside the nodule against its chance level, the
#   nodule's area fraction;
# - run the **sanity checks** of Adebayo et al. (2018) — randomise the network's layers, train on
#   shuffled labels — and tell a method that explains the *model* from one that explains the *image*;
# - catch a **shortcut** ("Clever Hans"): a burned-in marker that goes with the label, found by its
#   attribution mass, and the AUROC it costs when it is gone (with a paired interval);
# - compare SHAP, Integrated Gradients, permutation importance and logistic coefficients for chapter
#   04's EHR models with each patient's **true** risk-factor contributions.
#
# **Prerequisites:** chapter 02 (the CNN on CT patches, AUROC with patient-bootstrap intervals) and
# chapter 04 (the EHR cohort, GRU and logistic regression). No GPU, no internet: the patches and the
# cohort are simulated, so the truth every explanation is scored against is known.
#
# **Expected run time:** about 3 minutes at the `default` profile on a 2-core laptop CPU (measured
# 176 s on 2 cores shared with other jobs, peak memory 1.1 GB; the `smoke` profile, used by the
# tests, about 30 s).
#
# > **Common mistakes this chapter warns about**
# > - *A heat map is not evidence.* A map that looks plausible can be independent of the model
# >   (§3): check it against the truth or at least against a randomised model.
# > - *Reading MONAI's Grad-CAM raw.* Its default post-processing maps (min, max) to (1, 0): it
# >   flips the map. `explain` keeps the raw map.
# > - *Trusting a test AUROC that a shortcut earns* (§4): the marker is in the test set too.

# %% tags=["parameters"]
seed = 0  # random seed for simulators, splits, networks and explainers
n_patients = 80  # simulated patients of CT patches (detection task)
patches_per_patient = 20  # patches per patient
epochs = 6  # epochs of each CNN (the best validation epoch is kept)
n_explain = 40  # nodule patches explained and scored
n_sanity = 20  # nodule patches in the sanity checks
lime_samples = 150  # LIME / KernelSHAP perturbations per patch
shortcut_patients = 80  # patients of the shortcut experiment (malignancy task)
marker_malignant = 1.0  # share of malignant training/test patches that carry the scanner marker
marker_benign = 0.0  # share of benign training/test patches that carry it
marker_control = 0.5  # the control model's training patches: marker in this share of both classes
n_boot = 500  # bootstrap resamples
ehr_patients = 12000  # simulated EHR patients
ehr_explain = 200  # test patients explained by KernelSHAP and IG
ehr_epochs = 4  # epochs of the GRU
shap_samples = 200  # KernelSHAP coalitions per patient
torch_threads = 2  # torch CPU threads
interactive = True  # build the "why" widget

# %%
import time

import numpy as np
import pandas as pd
import torch
from IPython.display import display

import medbench
from medbench.data.ehr import simulate_ehr
from medbench.data.patches import nodule_patches
from medbench.metrics import auroc, mask_area_fraction
from medbench.plots.attribution import factor_bars, importance_bars, overlay_grid
from medbench.tasks.classification import ImageClassifier, Split
from medbench.tasks.explain import GRADIENT_METHODS, METHODS, randomisation_table, score_methods, shortcut_experiment
from medbench.tasks.explain_tabular import explain_ehr

torch.set_num_threads(torch_threads)
medbench.seed_everything(seed)
t_start = time.perf_counter()

# %% [markdown]
# ## 1 · A nodule detector to explain
# Chapter 02's patches, detection task (nodule or not), split by patient. The simulator now also
# returns each nodule's **mask**: where the evidence is. A small CNN is trained here (chapters stay
# independent); the validation patients pick its epoch, the test patients are scored once.

# %%
patches = nodule_patches(n_patients=n_patients, patches_per_patient=patches_per_patient, size=32, task="nodule",
                         seed=seed)
train, test = patches.split_by_patient(test_fraction=0.25, seed=seed)
clf = ImageClassifier("small_cnn", epochs=epochs, seed=seed).fit(train.images, train.labels, train.patient_ids)
test_auroc = auroc(test.labels, clf.predict_score(test.images))
medbench.record("detector_test_auroc", test_auroc)
print(f"{len(train)} training / {len(test)} test patches; test AUROC {test_auroc:.3f}")

# %% [markdown]
# ## 2 · Every method, scored against the nodule
# For a map $R$ and the nodule mask $M$, the **pointing game** hits when $\arg\max_p R_p \in M$
# (Zhang et al. 2018), and the **relevance mass** is
# $$\mathrm{RM} = \frac{\sum_{p \in M} R_p^{+}}{\sum_p R_p^{+}},$$
# the share of positive evidence inside the nodule (Arras et al. 2022). A map that ignores the
# image puts $|M| / |\text{patch}|$ there on average: the **mask area fraction** is chance.
# Gradient methods explain the nodule logit; occlusion, LIME and KernelSHAP its probability.

# %%
pos = np.flatnonzero(test.labels == 1)[:n_explain]
x_pos, m_pos = test.images[pos], test.masks[pos]
chance = mask_area_fraction(m_pos)
scores, maps = score_methods(clf, x_pos, m_pos, METHODS, n_samples=lime_samples, n_segments=48, seed=seed)
medbench.record("mask_area_fraction", chance)
for m, row in scores.iterrows():
    medbench.record(f"pointing_game_{m}", row["pointing_game"])
    medbench.record(f"relevance_mass_{m}", row["relevance_mass"])
scores.round(3)

# %%
best = scores["pointing_game"].idxmax()
print(f"{len(pos)} nodule patches; the nodule covers {chance:.1%} of a patch (chance relevance mass).")
print(f"Best pointing game: {best} ({scores.loc[best, 'pointing_game']:.2f}, relevance mass "
      f"{scores.loc[best, 'relevance_mass']:.2f} = {scores.loc[best, 'mass_over_chance']:.1f} x chance). "
      f"Worst: {scores['pointing_game'].idxmin()} ({scores['pointing_game'].min():.2f}).")
print("LIME and KernelSHAP give one value per superpixel: the pointing game counts a hit only if the whole "
      "top superpixel lies inside the nodule, so they can carry much relevance mass and still 'miss'.")

# %%
show = {m: maps[m] for m in ("saliency", "integrated_gradients", "gradcam", "occlusion", "kernel_shap")}
overlay_grid(x_pos, show, m_pos, n=4);

# %% [markdown]
# ## 3 · Sanity checks: does the map depend on the model?
# Adebayo et al. (2018): re-initialise the network's layers one by one from the output down
# (**cascading randomisation**) and train the same network on **shuffled labels**. A method whose map
# stays the same (high Spearman rank correlation with the trained model's map) is explaining the
# image — edges, bright blobs — not what the model learned.

# %%
rng = np.random.default_rng(seed)
shuffled = clf.clone(seed=seed + 1).fit(train.images, rng.permutation(train.labels), train.patient_ids)
sanity_methods = GRADIENT_METHODS + ("occlusion",)
sanity = randomisation_table(clf, x_pos[:n_sanity], sanity_methods, shuffled_model=shuffled, seed=seed)
full = sanity.iloc[len(sanity) - 2]  # every layer randomised (the last cascading step)
for m in sanity_methods:
    medbench.record(f"randomisation_spearman_{m}", full[m])
sanity.round(2)

# %%
shuf = sanity.loc["shuffled labels"]
passed = [m for m in sanity_methods if full[m] < 0.3 and shuf[m] < 0.3]
between = [m for m in sanity_methods if m not in passed and max(full[m], shuf[m]) < 0.5]
failed = [m for m in sanity_methods if max(full[m], shuf[m]) >= 0.5]
print("Spearman with the trained model's map after randomising every layer:",
      ", ".join(f"{m} {full[m]:.2f}" for m in sanity_methods))
print("... and for the model trained on shuffled labels:", ", ".join(f"{m} {shuf[m]:.2f}" for m in sanity_methods))
print(f"Pass both (< 0.3, the map changes with the weights): {passed or 'none'}; "
      f"in between (0.3-0.5): {between or 'none'}; "
      f"fail (>= 0.5 in either check, the map survives): {failed or 'none'}.")
if "integrated_gradients" in between + failed:
    print("Integrated Gradients multiplies the gradient by (input - baseline): part of its map is the image "
          "itself, whatever the weights.")
if set(failed) & {"gradcam", "monai_gradcam"}:
    print("Grad-CAM of a network that learned nothing about the labels still looks like the trained one's: a "
          "coarse map of where the last convolution's features are large, which the architecture and the "
          "image decide as much as the training.")

# %% [markdown]
# ## 4 · A shortcut caught
# Zech et al. (2018) found pneumonia models that read the hospital's burned-in token instead of the
# lungs. Here a scanner label (a small bright square in the corner) is burned into the *malignant*
# training patches and not the benign ones (in Zech's data the token named the hospital, and the
# hospital went with the disease rate; here the link is made as strong as it can be, so the shortcut
# is certain to be learned and the question is only whether the explanation finds it). The harder
# malignancy task (chapter 02) makes the shortcut tempting. The test set has the same marker rates,
# so the test AUROC looks fine; the occlusion mass on the marker gives it away, and removing the
# marker shows what the model had learned about nodules.
#
# The **control** model is trained on the same patches with the marker in half of them whatever
# the label: it has seen the marker and learned that it means nothing. (A model that never saw it
# reacts to the bright square as to any unseen dense object, which says nothing about shortcuts.)

# %%
mal = nodule_patches(n_patients=shortcut_patients, patches_per_patient=patches_per_patient, size=32,
                     task="malignancy", seed=seed + 7)
mtr, mte = mal.split_by_patient(test_fraction=0.3, seed=seed)
sc = shortcut_experiment(ImageClassifier("small_cnn", epochs=epochs, seed=seed, intensity_range=(-1000.0, 800.0)),
                         Split(mtr.images, mtr.labels, mtr.patient_ids), Split(mte.images, mte.labels, mte.patient_ids),
                         p_marker=(marker_benign, marker_malignant), p_marker_clean=marker_control,
                         method="occlusion", n_explain=n_explain, n_boot=n_boot, seed=seed,
                         explain_kw={"window": 4, "stride": 2})
for k in ("auroc_with_marker", "auroc_marker_removed", "shortcut_attribution_on_marker", "clean_attribution_on_marker"):
    medbench.record(f"shortcut_{k}" if k.startswith("auroc") else k, sc[k])
medbench.record("shortcut_auroc_drop_ci_low", sc["drop_ci_low"])
bayes_mal = auroc(mte.labels, mte.meta["p_malignant"].to_numpy())  # the simulator's true probability
pd.DataFrame({"test AUROC": [sc["auroc_with_marker"], sc["auroc_marker_removed"], sc["clean_auroc"], bayes_mal],
              "occlusion mass on the marker": [sc["shortcut_attribution_on_marker"], np.nan,
                                               sc["clean_attribution_on_marker"], np.nan]},
             index=["shortcut model, marker kept", "shortcut model, marker removed", "control model",
                    "true probability (Bayes)"]).round(3)

# %%
print(f"Removing the marker costs the shortcut model {sc['drop']:.3f} AUROC (paired patient bootstrap 95% CI "
      f"[{sc['drop_ci_low']:.3f}, {sc['drop_ci_high']:.3f}]). {sc['shortcut_attribution_on_marker']:.0%} of its "
      f"occlusion relevance sits on the marker, which covers {sc['marker_area_fraction']:.1%} of a patch; the control "
      f"model (marker uninformative in training) puts {sc['clean_attribution_on_marker']:.0%} there. Without the marker "
      f"the shortcut model ranks patches at AUROC {sc['auroc_marker_removed']:.2f}, the control at "
      f"{sc['clean_auroc']:.2f} and the true malignancy probability at {bayes_mal:.2f} (best achievable)"
      + (": the shortcut crowded out what the nodules could teach." if sc["auroc_marker_removed"] < sc["clean_auroc"]
         else "."))
overlay_grid(sc["images"], {"shortcut model": sc["maps_shortcut"], "control model": sc["maps_clean"]}, n=3,
             vmax=800.0);

# %% [markdown]
# ## 5 · EHR explanations against the true risk factors
# The EHR simulator's log-odds of a cardiovascular event is a sum of one term per risk factor, so
# each patient's true contribution $\phi_k = \beta_k (x_k - \bar x_k)$ is known exactly (these are
# the Shapley values of the true log-odds). Four explanations are grouped into the same factors:
# KernelSHAP on gradient boosting (captum's; `shap` pulls numba/llvmlite), Integrated Gradients over
# a GRU's visit sequence, permutation importance and the logistic regression's coefficient
# times the standardised feature. Global importance is the mean $|\phi_k|$ over patients.

# %%
cohort = simulate_ehr(ehr_patients, seed=seed)
ehr = explain_ehr(cohort, "cvd", n_explain=ehr_explain, epochs=ehr_epochs, shap_samples=shap_samples, seed=seed)
names = {"shap": "shap_truth_spearman", "ig": "ig_truth_spearman", "permutation": "permutation_truth_spearman",
         "logreg": "logreg_truth_spearman"}
for m, row in ehr.table.iterrows():
    medbench.record(names[m], row["truth_spearman"])
    if np.isfinite(row["top3_agreement"]):
        medbench.record(f"top3_agreement_{m}", row["top3_agreement"])
ehr.table.round(3)

# %%
best_ehr = ehr.table["truth_spearman"].idxmax()
print(f"Best global agreement with the truth: {best_ehr} (Spearman {ehr.table.loc[best_ehr, 'truth_spearman']:.2f} "
      f"over {len(ehr.importance)} factors, {int((ehr.importance['truth'] > 0).sum())} of which truly matter). "
      f"Per patient, the top-3 factors agree on {ehr.table['top3_agreement'].max():.0%} at best: a model "
      "that ranks factors well on average can still name the wrong reason for one patient.")
importance_bars(ehr.importance);

# %%
factor_bars(ehr.truth.iloc[0].to_dict(), ehr.per_patient["shap"].iloc[0].to_dict(), method="KernelSHAP",
            probability=float(ehr.probabilities["shap"][0]));

# %% [markdown]
# ## 6 · Ask "why?"
# Pick a patch and a method: the map over the patch, the nodule outline and the model's probability.
# `WhyPanel(ehr=ehr)` does the same for a patient's risk factors.

# %%
if interactive:
    from medbench.widgets import WhyPanel

    why = WhyPanel(clf, x_pos, m_pos, methods=("occlusion", "integrated_gradients", "saliency", "gradcam"))
    display(why)

# %%
medbench.record("chapter_seconds", time.perf_counter() - t_start)
print(f"chapter run time {time.perf_counter() - t_start:.0f} s")

# %% [markdown]
# ## References
# - Adebayo J. et al. (2018) Sanity checks for saliency maps. NeurIPS.
# - Arras L., Osman A., Samek W. (2022) CLEVR-XAI: a benchmark dataset for the ground truth evaluation
#   of neural network explanations. Information Fusion 81 (relevance mass accuracy).
# - Zhang J. et al. (2018) Top-down neural attention by excitation backprop. IJCV (pointing game).
# - Zech J.R. et al. (2018) Variable generalization performance of a deep learning model to detect
#   pneumonia in chest radiographs. PLOS Medicine 15(11): e1002683 (the hospital token shortcut).
# - Sundararajan M., Taly A., Yan Q. (2017) Axiomatic attribution for deep networks (Integrated Gradients).
# - Smilkov D. et al. (2017) SmoothGrad; Selvaraju R. et al. (2017) Grad-CAM; Zeiler M., Fergus R.
#   (2014) occlusion; Ribeiro M. et al. (2016) LIME; Lundberg S., Lee S.-I. (2017) SHAP / KernelSHAP.
# - Kokhlikyan N. et al. (2020) Captum; MONAI Consortium, `monai.visualize`.
# - The simulators' formulas: `medbench.data.patches`, `medbench.data.ehr.factor_contributions`.
#
# **Exercises:** `notebooks/exercises/07_interpretability_exercises.ipynb` — (1) the pointing game
# and relevance mass by hand (compute), (2) Integrated Gradients by hand and its completeness
# (compute), (3) which maps pass the randomisation check, from this chapter's table (interpret),
# (4) a shortcut in an EHR model found by permutation importance (investigate).
