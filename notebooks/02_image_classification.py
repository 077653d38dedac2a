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
# # 02 · CNN classification of medical images
#
# **Task.** Is a lung nodule seen on CT benign or malignant? We train a convolutional network
# on 2D CT patches of nodules from a simulated CT phantom whose truth is known, including each
# nodule's *true probability* of malignancy, so we can say how far the CNN is from the best any
# model could do. Set `dataset` to a MedMNIST flag (e.g. `"pneumoniamnist"`, `"breastmnist"`) to
# run the training and evaluation sections on real images placed in the data directory.
#
# **What you will learn**
# - to check first that a task **needs** learning: hand-crafted baselines (a one-number rule, a
#   logistic regression on intensity and size features) beside the CNN, compared by a **paired**
#   bootstrap of the AUROC difference, and the **Bayes-optimal** AUROC above them all;
# - preprocessing (HU windowing) and augmentation with MONAI dictionary transforms;
# - a small CNN (conv-ReLU-pool twice, then dense) trained with cross-entropy and Adam by
#   medbench's shared training loop (validation every epoch, best epoch on validation loss);
# - why splits must be made **by patient**, and patient-level K-fold cross-validation on the
#   training patients only;
# - class imbalance: a weighted loss vs a balanced sampler, side by side (on nodule detection);
# - transfer learning: pretrain on detection, fine-tune on a small labelled malignancy set;
# - evaluation with bootstrap 95% CIs over patients: AUROC, sensitivity, specificity, F1,
#   Brier, calibration slope and intercept; confusion matrix, ROC, PR and a quantile-binned
#   reliability diagram; the most confident mistakes.
#
# **Prerequisites:** chapter 00 (losses, Adam) and chapter 01 (CT, Hounsfield units). No GPU, no internet.
#
# **Run time** at the `default` parameters on a 2-core laptop CPU: about 5 minutes (the
# malignancy CNN and the 3-fold cross-validation take most of it); the `smoke` profile runs
# in under a minute and shows the mechanics only (its models are too briefly trained to mean much).

# %% tags=["parameters"]
seed = 0  # random seed for data, weights, batches and augmentation
dataset = "phantom"  # "phantom" (simulated CT patches) or a MedMNIST 2D flag whose .npz is in the data directory
medmnist_size = 28  # MedMNIST image size (28, 64, 128, 224)
medmnist_max_train = 3000  # subsample MedMNIST training images to keep CPU time bounded
n_patients = 1000  # phantom: simulated patients of the malignancy task
patches_per_patient = 4  # phantom: nodule patches per patient (a patient has 1-3 nodules)
patch_size = 32  # phantom: patch side in pixels (1 mm)
test_fraction = 0.25  # fraction of patients in the test set
model_name = "small_cnn"  # small_cnn | resnet18 | densenet121 | efficientnet_b0
epochs = 60  # epochs of the main model
patience = 0  # early-stopping patience in epochs without a better validation loss; 0: train all epochs (the best epoch is kept either way)
lr = 0.003  # Adam learning rate
batch_size = 32  # mini-batch size
augment = True  # MONAI random flips / rotations / noise during training
precision = "fp32"  # fp32 | bf16 | auto (bf16 autocast where the CPU supports it)
detect_patients = 60  # nodule detection (sections 5-6): patients, 20 patches each, ~25% with a nodule
balance_epochs = 6  # epochs per run in the class-imbalance comparison (on detection)
cv_folds = 3  # patient-level cross-validation folds (training patients only)
cv_epochs = 20  # epochs per fold
finetune_sizes = [128, 512]  # transfer learning: labelled malignancy patches
finetune_steps = 300  # transfer learning: optimiser steps per run (batch 32), whatever the set size
n_boot = 1000  # bootstrap resamples for confidence intervals
threads = 1  # torch CPU threads: 1 suits small models on 2 shared cores, 0 keeps the torch default

# %%
import numpy as np
import pandas as pd
import torch
from IPython.display import display

import medbench
from medbench import metrics as M
from medbench.data.patches import CALCIFICATION
from medbench.models import count_parameters, make_model
from medbench.plots.classification import (
    plot_evaluation,
    plot_image_grid,
    plot_learning_curves,
    plot_training_curves,
)
from medbench.tasks.classification import HU_CALCIUM_RANGE, ImageClassifier, load_image_data
from medbench.tasks.classification_studies import (
    baseline_scores,
    compare_balance,
    compare_with_baselines,
    cross_validate,
    fine_tune_curve,
)
from medbench.transforms import describe_pipeline, get_pipeline
from medbench.widgets.prediction_browser import PredictionBrowser
from medbench.widgets.training_panel import TrainingPanel

medbench.seed_everything(seed)
if threads:
    torch.set_num_threads(threads)  # small convolutions gain little from a 2nd thread, and spin-waiting threads hurt when cores are shared

# %% [markdown]
# ## 1. The task and its data, split by patient
#
# Every simulated patient has 1-3 lung nodules, each seen in a few axial 32 × 32 mm patches
# (Hounsfield units) at different positions and slice offsets. The patches are built so that
# *position and mean density do not give the answer*: the nodule sits anywhere in the patch;
# vessels run through it, branch and cross the slice (their round cross-sections look like small
# nodules); each patient's scanner has its own noise, blur and slice thickness (partial volume:
# a nodule cut near its pole is fainter and smaller); a quarter of the nodules are sub-solid.
#
# **What decides malignancy.** Radiologists read a nodule's *calcification pattern*: a central
# (or laminated, popcorn) calcification is a classic benign sign, while an eccentric
# calcification does not exclude cancer (Erasmus et al. 2000). The simulator follows that, with
# size as a secondary risk factor:
#
# $$\operatorname{logit} P(\text{malignant}) = -0.6 + 0.2\,(d - 11\,\text{mm}) + \beta_c,\qquad
# \beta_{\text{none}} = 0,\quad \beta_{\text{central}} = -3.5,\quad \beta_{\text{eccentric}} = +2,$$
#
# and the label is a coin flip with that probability. Central and eccentric calcifications have
# the same area and density: only *where* the calcium lies inside the nodule tells them apart,
# which a CNN can see and a size or intensity feature cannot. (An honest simplification: thin
# spiculation, the best-known malignant sign, is drawn here independently of malignancy,
# because a CNN on 32-pixel patches could not resolve it in our tests.)
#
# Patches of one patient share texture, noise and the same few nodules, so a random split by
# patch would put near-copies of a test nodule into training and flatter the model. We split
# by **patient**.

# %%
data = load_image_data(dataset, seed=seed, n_patients=n_patients, patches_per_patient=patches_per_patient,
                       patch_size=patch_size, test_fraction=test_fraction, task="malignancy",
                       medmnist_size=medmnist_size, medmnist_max_train=medmnist_max_train)
(X_train, y_train, g_train), (X_test, y_test, g_test) = data.train, data.test
class_names, window, task = data.class_names, data.intensity_range, data.task
phantom = dataset == "phantom"
n_test_patients = len(np.unique(g_test))
medbench.record("n_test_patients", n_test_patients)
data.summary()

# %%
if phantom:
    meta = data.test_meta
    show = np.concatenate([np.flatnonzero((meta["calcification"] == c).to_numpy())[:6] for c in CALCIFICATION])
    titles = [f"{meta['calcification'][i]}, {meta['diameter_mm'][i]:.0f} mm\np={meta['p_malignant'][i]:.2f}: "
              f"{class_names[y_test[i]]}" for i in show]
    plot_image_grid(X_test[show], titles, ncols=6, vmin=window[0], vmax=window[1],
                    suptitle="test nodules by calcification pattern (window = preprocessing window)")
    display(meta.groupby("calcification").agg(patches=("label", "size"), mean_p_malignant=("p_malignant", "mean"),
                                              malignant_fraction=("label", "mean")).round(3))
show = np.concatenate([np.flatnonzero(y_train == k)[:8] for k in range(len(class_names))])

# %% [markdown]
# The table is the simulator's truth on the test patients: central calcification almost always
# benign, eccentric mostly malignant, no calcification in between (there size matters). The
# labels are draws, so even a perfect reader of the images makes mistakes: the **Bayes-optimal**
# AUROC, that of the true probability $p$ itself, is the ceiling below.
#
# %% [markdown]
# ## 2. Preprocessing and augmentation with MONAI
#
# *Preprocessing* is deterministic: `ScaleIntensityRanged` maps the window
# [−1000, 800] HU (air to calcium) to [0, 1] and clips outside it. The usual soft-tissue
# window stops at 400 HU and would squeeze a calcification and the nodule around it into the top
# quarter of the grey scale; here the calcium is the evidence, so the window keeps it bright
# against a mid-grey nodule (0.58). medbench caches
# its result once with `CacheDataset`. *Augmentation* is random and runs each epoch on the
# cached arrays: flips on both axes, 90° rotations and a little Gaussian noise — changes
# that do not alter the label, so the network must learn what the calcium's place means rather
# than any orientation. (`benchmarks/train_throughput.py` measures what
# caching saves.) Both pipelines are the named presets of `medbench.transforms` that
# `ImageClassifier` builds too:

# %%
pre = get_pipeline("ct_2d_patch_eval", intensity_range=window)
train_pipe = get_pipeline("ct_2d_patch_train", intensity_range=window, seed=seed)
item = {"image": X_train[show[-1]].astype(np.float32), "label": int(y_train[show[-1]])}
views = [pre(dict(item))["image"].numpy()] + [train_pipe(dict(item))["image"].numpy() for _ in range(7)]
print("eval: ", describe_pipeline(pre), "\ntrain:", describe_pipeline(train_pipe))
plot_image_grid(np.stack(views), ["preprocessed"] + [f"augmented {i}" for i in range(1, 8)], vmin=0, vmax=1);

# %% [markdown]
# ## 3. The model and its training
#
# The seed's baseline network: two blocks of *convolution → (batch norm) → ReLU → 2×2 max
# pooling*, then a dense layer and the output layer with two logits. It has few parameters
# compared with the MONAI networks available through the same factory:

# %%
pd.DataFrame({name: {"parameters": count_parameters(make_model(name, num_classes=len(class_names),
                                                               in_channels=X_train.shape[1]))}
              for name in ("small_cnn", "resnet18", "densenet121", "efficientnet_b0")}).T

# %% [markdown]
# `ImageClassifier` holds out 20% of the training *patients* for validation, trains with
# cross-entropy and Adam (cosine learning-rate schedule) through `medbench.training.fit`,
# computes the validation loss and AUROC after every epoch and keeps the weights of the epoch
# with the lowest validation loss (chosen on validation patients only; the test patients are
# scored once, in section 4). With `patience` > 0 it also stops early when the validation loss
# has not improved for that many epochs. Watch the validation AUROC: size is learned in the
# first epochs, the calcium's place only after many more (the curve climbs late), which is why
# this model trains all its `epochs` instead of stopping at the first plateau.

# %%
clf = ImageClassifier(model_name, epochs=epochs, lr=lr, batch_size=batch_size, augment=augment,
                      intensity_range=window, precision=precision, patience=patience or None, seed=seed)
clf.fit(X_train, y_train, g_train)
train_seconds = clf.train_seconds_
print(f"{len(clf.history_)} epochs, best epoch {clf.history_.best_epoch} "
      f"(val loss {clf.history_.best_score:.3f}, val AUROC {clf.history_['val_auroc'][clf.history_.best_epoch - 1]:.3f}), "
      f"{train_seconds:.1f} s, precision {clf.history_.precision}")
plot_training_curves(clf.history_.records, metrics=("val_auroc",), title=f"{model_name}: training curves");

# %% [markdown]
# ## 4. Evaluation on held-out patients, with 95% confidence intervals
#
# Each score comes with a bootstrap 95% CI. We resample **patients** (all of a patient's
# patches together), because patches of one patient are correlated: resampling patches would
# pretend we have more independent evidence than we do and make the intervals too narrow.
# Thresholded scores (accuracy, sensitivity, ...) use probability 0.5.

# %%
p_test = clf.predict_proba(X_test)
score = p_test[:, 1] if task == "binary" else p_test
table = M.metric_table(y_test, score, task=task, n_boot=n_boot, seed=seed, groups=g_test)
if task == "binary":  # calibration slope and intercept on the same patient resamples
    for name, fn in (("calibration slope", M.calibration_slope), ("calibration intercept", M.calibration_intercept)):
        table.loc[name] = M.bootstrap_ci(fn, y_test, score, n_boot=n_boot, seed=seed, groups=g_test)
table.round(3)

# %%
if task == "binary":
    plot_evaluation(y_test, score, class_names=class_names,
                    auroc_ci=tuple(table.loc["auroc", ["ci_low", "ci_high"]]),
                    suptitle=f"{model_name} on {len(np.unique(g_test))} held-out patients");
else:
    from medbench.plots.classification import plot_confusion_matrix, plot_roc

    plot_confusion_matrix(y_test, p_test.argmax(1), class_names=class_names)
    plot_roc(y_test, p_test, class_names=class_names);

# %%
test_auroc = float(table.loc["auroc", "estimate"])
medbench.record("test_auroc", test_auroc)
medbench.record("test_auroc_ci_low", table.loc["auroc", "ci_low"])
medbench.record("test_accuracy", table.loc["accuracy", "estimate"])
medbench.record("test_f1", table.loc["f1", "estimate"])
medbench.record("test_sensitivity", table.loc["sensitivity", "estimate"])
medbench.record("test_specificity", table.loc["specificity", "estimate"])
medbench.record("train_seconds", train_seconds)
if task == "binary":
    cal_slope, cal_intercept = table.loc["calibration slope"], table.loc["calibration intercept"]
    medbench.record("test_calibration_slope", cal_slope["estimate"])
    medbench.record("test_calibration_intercept", cal_intercept["estimate"])
    print(f"calibration slope {cal_slope['estimate']:.2f} [{cal_slope['ci_low']:.2f}, {cal_slope['ci_high']:.2f}] "
          f"(1 is ideal; {'below 1: too extreme' if cal_slope['estimate'] < 1 else 'above 1: too modest'}), "
          f"intercept {cal_intercept['estimate']:+.2f} [{cal_intercept['ci_low']:+.2f}, {cal_intercept['ci_high']:+.2f}] "
          f"(0 is ideal; {'above 0: predicted risks too low' if cal_intercept['estimate'] > 0 else 'below 0: predicted risks too high'} on average); "
          f"mean predicted P(malignant) {score.mean():.3f} vs observed {y_test.mean():.3f}")

# %% [markdown]
# The first row is the headline: the AUROC over the test patients with its patient-bootstrap
# CI. The thresholded rows depend on the 0.5 cut-off: with ~40% malignant nodules and many
# uncertain ones (no calcification, middle size), the model says "malignant" only when fairly
# sure, so specificity is high and sensitivity lower; a screening programme would choose a
# lower threshold from the ROC curve. Whether 0.8-something is *good* cannot be read from this
# table: section 5 puts it between the baselines and the ceiling.
#
# **Calibration: does a predicted 0.7 mean 70% malignant?** The reliability diagram groups the
# test patches into 10 *quantile* bins (equal numbers of cases, so no point rests on the few
# patches with rare predictions) and plots the observed malignant fraction against the mean
# prediction per bin. Two numbers summarise it (logistic recalibration of the predictions
# $p$ on the test labels, $\mathrm{lp} = \operatorname{logit} p$):
#
# $$\operatorname{logit} P(y=1) = a + b\,\mathrm{lp}\ \text{(slope } b\text{)},\qquad
# \operatorname{logit} P(y=1) = a_0 + \mathrm{lp}\ \text{(intercept } a_0\text{)}.$$
#
# A **slope** $b < 1$ means the predictions are too extreme (too close to 0 and 1, the mark of an
# over-fitted or over-confident model), $b > 1$ too timid; the **intercept** $a_0$ is
# calibration-in-the-large: above 0 the model predicts too few events on average, below 0 too
# many. The printed line above gives both, with patient-bootstrap CIs, for this run. Class
# weighting (section 6) mis-calibrates on purpose: a model trained as if the classes were equally
# common over-predicts the rare class, a negative intercept; read probabilities from an
# unweighted model.

# %% [markdown]
# ### The most confident mistakes
#
# Errors the model made with the highest confidence are the most instructive. Here many are
# *label noise*: a nodule with a benign central calcification that is malignant all the same
# (the simulator draws the label from a probability, as biology does), which no model should
# get right. Others are small nodules whose calcium is hard to place, or a calcification
# hidden by a vessel crossing the nodule.

# %%
pred = p_test.argmax(1)
wrong = np.flatnonzero(pred != y_test)
conf = p_test[wrong, pred[wrong]]
worst = wrong[np.argsort(-conf)][:16]
print(f"{len(wrong)} mistakes among {len(y_test)} test cases")
if len(worst):
    titles = [f"true {class_names[y_test[i]][:12]}\nP({class_names[pred[i]][:12]})={p_test[i, pred[i]]:.2f}"
              for i in worst]
    plot_image_grid(X_test[worst], titles, ncols=8, vmin=window[0], vmax=window[1],
                    suptitle="most confident mistakes");
if data.test_meta is not None and len(worst):
    display(data.test_meta.iloc[worst][["patient_id", "label", "p_malignant", "calcification", "diameter_mm",
                                       "slice_offset_mm", "noise_hu"]].round(2))

# %% [markdown]
# Browse every test case — filter to errors or one cell of the confusion matrix, and order by
# confidence:

# %%
if task == "binary":
    browser = PredictionBrowser(X_test, y_test, p_test[:, 1], class_names=class_names, window=window, ids=g_test)
    browser.view.value = "errors"
    browser.order.value = "most confident"
    display(browser)

# %% [markdown]
# ## 5. Does the task need learning? Baselines and the Bayes ceiling
#
# Two baselines need (almost) no training: the **centre rule** scores a patch by the mean HU of
# its central 4 × 4 pixels (enough to find a centred nodule, the task this chapter used to
# have), and a **logistic regression** on six hand-crafted features (centre, mean, standard
# deviation and 95th percentile of HU, dense area, largest dense blob; fit on the training
# patients). The CNN must beat the better of them, and by more than noise: each difference is a
# **paired** patient bootstrap (both scores on the same resampled patients,
# `medbench.metrics.paired_bootstrap_diff`), whose CI is narrower than comparing two separate
# CIs because the patients that are hard for one model are hard for the other too. The last
# row is the Bayes-optimal score $p$.

# %%
if phantom:
    baselines = baseline_scores(data.train, data.test, pixel_mm=1.0)
    bayes_p = data.test_meta["p_malignant"].to_numpy()
    versus = compare_with_baselines(y_test, score, baselines, g_test, bayes=bayes_p, n_boot=n_boot, seed=seed,
                                    name=model_name)
    best_base = versus.loc[list(baselines), "auroc"].astype(float).idxmax()
    bayes_auroc = float(versus.loc["Bayes-optimal", "auroc"])
    medbench.record("bayes_auroc", bayes_auroc)
    medbench.record("baseline_auroc", versus.loc[best_base, "auroc"])
    medbench.record("centre_rule_auroc", versus.loc["centre-mean-HU rule", "auroc"])
    medbench.record("auroc_gain_vs_baseline", versus.loc[best_base, "gain"])
    medbench.record("auroc_gain_vs_baseline_ci_low", versus.loc[best_base, "gain_ci_low"])
    medbench.record("bayes_gap", bayes_auroc - test_auroc)
    print(f"best baseline: {best_base}; {model_name} minus it: {versus.loc[best_base, 'gain']:+.3f} "
          f"[{versus.loc[best_base, 'gain_ci_low']:+.3f}, {versus.loc[best_base, 'gain_ci_high']:+.3f}]; "
          f"gap to Bayes {bayes_auroc - test_auroc:.3f}")
    display(versus.astype(float).round(3))

# %% [markdown]
# Read the rows top to bottom. The baselines see size and density, and a calcification's
# *presence* (a bright 95th percentile), but not its *place*: their AUROC stays near what size
# alone gives. The CNN's gain over the best baseline, with a CI that excludes 0, is the part
# of its performance that needed a learned, spatial feature. The "gain" on the Bayes row is
# negative: the CNN's distance from the ceiling. A model close to the ceiling cannot be
# improved much by any architecture; a model far below it can. (Against a real test set no
# Bayes row exists: a second reader or an inter-rater study is the nearest substitute.)
#
# %% [markdown]
# ## 6. Class imbalance: weighted loss vs balanced sampling (on nodule detection)
#
# Malignancy is ~40% of our nodules, hardly imbalanced. Nodule *detection* is: about one patch
# in four contains a nodule. The same harder patches serve (nodule anywhere in the patch,
# vessels, per-patient scanners), now with and without a nodule. Two standard remedies:
# - **weighted loss**: each class's cross-entropy is weighted by its inverse frequency, so
#   the rare class counts as much in total;
# - **balanced sampling**: a `WeightedRandomSampler` draws both classes equally often, so
#   every mini-batch is balanced (rare cases are seen repeatedly, common ones less).
#
# Both aim at the operating point (sensitivity vs specificity at the 0.5 threshold); AUROC
# does not depend on the threshold. Same data, model, epochs and seed in each run:

# %%
det = load_image_data("phantom", seed=seed + 1000, n_patients=detect_patients, patches_per_patient=20,
                      patch_size=patch_size, test_fraction=test_fraction, task="nodule")
det_window = window if phantom else HU_CALCIUM_RANGE  # the malignancy task's window: its source network
det_clf = clf.clone(epochs=balance_epochs, patience=None, intensity_range=det_window)
balance_table, det_models = compare_balance(det_clf, det.train, det.test, return_models=True)
det_base = baseline_scores(det.train, det.test)
for name, s in det_base.items():
    balance_table.loc[name, "auroc"] = M.auroc(det.test.labels, s)
balance_table.round(3)

# %%
gap = balance_table.loc["weights", "sensitivity"] - balance_table.loc["none", "sensitivity"]
medbench.record("detect_auroc", balance_table.loc["none", "auroc"])
medbench.record("detect_centre_rule_auroc", balance_table.loc["centre-mean-HU rule", "auroc"])
medbench.record("weights_minus_none_sensitivity", gap)
print(f"class weights changed sensitivity by {gap:+.3f} and mean P(nodule) from "
      f"{balance_table.loc['none', 'mean P(class 1)']:.3f} to {balance_table.loc['weights', 'mean P(class 1)']:.3f} "
      f"(true prevalence {det.test.labels.mean():.3f})")

# %% [markdown]
# Read the table row by row (the last two rows are the detection baselines, AUROC only). When
# the classes overlap, reweighting raises sensitivity at the cost of specificity, and the model,
# trained as if the classes were equally common, over-estimates the rare class's probability
# (mean P(class 1) above the prevalence; the Brier score says whether that cost accuracy of the
# probabilities in this run): use the unweighted model's probabilities when calibration
# matters, or recalibrate. The printed line says what happened in
# this run; differences of a few hundredths are of the size of run-to-run noise. Imbalance
# remedies move the operating point; they add no information. The centre rule, near-perfect on
# the old centred patches (AUROC 0.9986), now falls well below the CNN; the feature logistic
# regression (dense area, largest blob) does better, as a nodule is a large dense blob, yet a
# vessel crossing the patch is one too: detection on these patches is easier than malignancy
# but no longer free.
#
# ## 7. Transfer learning: pretrain on detection, fine-tune on a small labelled set
#
# Labelling malignancy needs biopsy or follow-up, so it is scarce; nodule *detection* labels
# are cheaper. We take section 6's unweighted detector (source) and fine-tune it on **benign vs
# malignant** with few labelled patches from the training patients, against the same network
# trained from scratch, for the same number of optimiser steps; both are scored on the test
# patients of sections 4-5.

# %%
if phantom:
    source_model = det_models["none"].model_
    # each run: the same number of optimiser steps (batch 32) whatever the labelled set's size
    transfer = fine_tune_curve(source_model, data.train, data.test, sizes=finetune_sizes, steps=finetune_steps,
                               model=model_name, precision=precision, intensity_range=window, seed=seed)
    ax = plot_learning_curves(transfer, title="malignancy: fine-tuned vs from scratch").axes[0]
    ax.axhline(bayes_auroc, ls=":", c="k", label=f"Bayes-optimal {bayes_auroc:.2f}")
    ax.axhline(versus.loc[best_base, "auroc"], ls="--", c="grey", label="best baseline")
    ax.legend(fontsize=8)
    curve = transfer.pivot(index="n_labelled", columns="init", values="auroc")
    curve["pretrained minus scratch"] = curve["pretrained"] - curve["from scratch"]
    medbench.record("transfer_gain_smallest", curve["pretrained minus scratch"].iloc[0])
    display(curve.round(3))
else:
    curve = None
    print(f"transfer from the phantom's CT detector to {dataset} is not shown: different images and channels")

# %% [markdown]
# Read the last column: positive where pretraining helped at that number of labels. A
# detector's features respond to dense blobs and their edges; whether they help find the
# calcium's place is an empirical question, answered here on held-out patients for this run
# only (each entry is one training run on one subset, so differences of a few hundredths are
# noise). With few labels both curves may sit near the baselines: the place of the calcium is
# learned late, after the network has learned what a nodule is, which is exactly what
# pretraining on detection could shortcut. Compare the curves with section 3's CNN trained on
# all the labels.
#
# ## 8. Patient-level K-fold cross-validation (training patients only)
#
# One train/test split gives one number whose value depends on which patients landed in the
# test set. K-fold cross-validation trains K models, each tested on a different fold of the
# **training** patients (`medbench.data.sequences.kfold_patients`, the one patient splitter:
# every patient in exactly one fold), and reports the mean ± standard deviation across folds.
# The test patients take no part: cross-validation over them would let them influence any
# choice made from the CV numbers, and the test score would no longer be an untouched check.

# %%
cv = cross_validate(clf.clone(epochs=cv_epochs), *data.train, k=cv_folds, seed=seed)
assert not set(np.unique(data.train.groups)) & set(np.unique(g_test))  # CV saw no test patient
cv_auroc_mean, cv_auroc_std = float(cv["auroc"].mean()), float(cv["auroc"].std(ddof=1))
medbench.record("cv_auroc_mean", cv_auroc_mean)
medbench.record("cv_auroc_std", cv_auroc_std)
print(f"AUROC {cv_auroc_mean:.3f} ± {cv_auroc_std:.3f} (mean ± sd over {cv_folds} folds of the training patients; "
      f"{cv_epochs} epochs each, on {1 - 1 / cv_folds:.0%} of the training data)")
cv.round(3)

# %% [markdown]
# The folds train on two thirds of the training patients and for `cv_epochs` epochs instead of
# `epochs`, so their mean sits below the test AUROC; by how much tells how far from converged a
# shorter run is (the calcium's place is learned late: see section 3's curves). The spread across
# folds shows how much a single split's number moves with the choice of patients. Use the CV
# numbers to choose settings; report the untouched test score.
#
# %% [markdown]
# ## 9. Train it yourself
#
# The panel trains a fresh model on the same patient split with your choice of network,
# epochs, learning rate and augmentation, drawing the loss and validation AUROC after every
# epoch; **Stop** ends training after the current batch and keeps the best epoch so far.
# (In a report it shows the curves of the model trained in section 3.)

# %%
def train_from_panel(config, callbacks):
    m = ImageClassifier(config["model"], epochs=config["epochs"], lr=config["lr"], augment=config["augment"],
                        batch_size=batch_size, intensity_range=window, precision=precision, patience=patience or None, seed=seed,
                        fit_kw={"callbacks": callbacks})
    return m.fit(X_train, y_train, g_train)


panel = TrainingPanel(train_from_panel, models=("small_cnn", "resnet18", "densenet121", "efficientnet_b0"),
                      epochs=epochs, lr=lr, augment=augment, metrics=("val_auroc",))
panel.show_records(clf.history_.records, note=f"section 3's run: {len(clf.history_)} epochs")
panel

# %% [markdown]
# ## Summary
#
# The numbers behind each line are printed by the cell below, from this run.
#
# - Check that a task needs learning before celebrating a CNN: here the best hand-crafted
#   baseline and the Bayes ceiling frame the CNN's AUROC, and a paired patient bootstrap says
#   whether its gain is more than noise.
# - Split by patient, always: for the test set, for validation and for cross-validation, which
#   runs on the training patients only.
# - Class reweighting and balanced sampling move the operating point (sensitivity up,
#   specificity down) and inflate the predicted risk; they do not create information.
# - Pretraining on detection is a bet to be checked on held-out patients: the transfer table
#   says whether it paid off at each number of labels in this run.

# %%
if phantom:
    print(f"CNN test AUROC {test_auroc:.3f} [{table.loc['auroc', 'ci_low']:.3f}, {table.loc['auroc', 'ci_high']:.3f}] "
          f"on {n_test_patients} test patients; best baseline ({best_base}) {versus.loc[best_base, 'auroc']:.3f}; "
          f"gain {versus.loc[best_base, 'gain']:+.3f} [{versus.loc[best_base, 'gain_ci_low']:+.3f}, "
          f"{versus.loc[best_base, 'gain_ci_high']:+.3f}]; Bayes-optimal {bayes_auroc:.3f}")
print(f"cross-validation on training patients: {cv_auroc_mean:.3f} ± {cv_auroc_std:.3f}")
print(f"class weights: sensitivity {gap:+.3f}, mean P(nodule) {balance_table.loc['none', 'mean P(class 1)']:.3f} -> "
      f"{balance_table.loc['weights', 'mean P(class 1)']:.3f}")
if curve is not None:
    print("transfer (pretrained minus scratch): " + ", ".join(
        f"{n} labels {d:+.3f}" for n, d in curve["pretrained minus scratch"].items()))

# %% [markdown]
# > **Common mistakes.** Reporting a high AUROC without a baseline: the old version of this
# > chapter scored 0.99 with a CNN on a task a 4 × 4 mean solved at 0.9986. Comparing two models
# > by their separate CIs instead of a paired bootstrap of the difference. Splitting patches, not
# > patients. Cross-validating over the test patients and then reporting the test score as
# > untouched. Choosing the epoch on validation AUROC when it saturates early. Windowing CT to
# > soft tissue when the evidence is brighter than the window (calcium, bone, contrast). Reading
# > probabilities from a class-weighted model as risks.
#
# ## References
#
# - MONAI Consortium, *MONAI: Medical Open Network for AI* (`ScaleIntensityRanged`,
#   `RandFlipd`, `RandRotate90d`, `RandGaussianNoised`, `CacheDataset`): https://docs.monai.io
# - LeCun, Bottou, Bengio & Haffner (1998), *Gradient-based learning applied to document
#   recognition*, Proc. IEEE (the convolution-pooling network); Kingma & Ba (2015), *Adam*, ICLR.
# - Erasmus, Connolly, McAdams, Roggli (2000), *Solitary pulmonary nodules: Part I.
#   Morphologic evaluation for differentiation of benign and malignant lesions*, RadioGraphics
#   20(1):43-58 (benign central, laminated, diffuse and popcorn calcification; eccentric
#   calcification not a benign sign). The simulator's coefficients are ours, chosen for teaching,
#   not fitted to data: `medbench.data.patches.MALIGNANCY_LOGIT`.
# - MacMahon et al. (2017), *Guidelines for management of incidental pulmonary nodules detected
#   on CT images: from the Fleischner Society 2017*, Radiology 284(1):228-243 (size as a risk factor).
# - Efron & Tibshirani (1993), *An Introduction to the Bootstrap*, Chapman & Hall (percentile
#   intervals; resampling clusters, here patients); the paired difference:
#   `medbench.metrics.paired_bootstrap_diff`.
# - Hanley & McNeil (1982), *The meaning and use of the area under a ROC curve*, Radiology 143
#   (AUROC); the Bayes-optimal score is the true class probability (e.g. Hastie, Tibshirani &
#   Friedman, *The Elements of Statistical Learning*, 2nd ed., section 2.4).
# - Cox (1958), *Two further applications of a model for binary regression*, Biometrika 45:562-565,
#   and Steyerberg (2019), *Clinical Prediction Models*, 2nd ed., Springer, chapter 15 (calibration
#   slope and intercept: `medbench.metrics.calibration_slope_intercept`); Van Calster et al. (2019),
#   *Calibration: the Achilles heel of predictive analytics*, BMC Medicine 17:230; the reliability
#   diagram's quantile bins: `sklearn.calibration.calibration_curve(strategy="quantile")`.
# - Yosinski et al. (2014), *How transferable are features in deep neural networks?*, NeurIPS;
#   Raghu et al. (2019), *Transfusion: understanding transfer learning for medical imaging*, NeurIPS.
# - Yang et al. (2023), *MedMNIST v2*, Scientific Data 10:41 (the optional real datasets).
# - Every number in this chapter is computed above from the data generated with `seed`.
#
# **Exercises** (nbgrader format), in `notebooks/exercises/02_image_classification_exercises.ipynb`:
#
# 1. *The centre-mean-HU rule by hand* (compute);
# 2. *A patient-level paired bootstrap of an AUROC difference* (compute);
# 3. *A threshold for 90% sensitivity, and what it costs on new patients* (interpret);
# 4. *A validation score above the Bayes-optimal one* (investigate: a shortcut planted in the patches).
