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
# **Task.** Lung-cancer screening on CT starts by finding nodules. We train a convolutional
# network to tell 2D CT patches *centred on a lung nodule* from patches of lung tissue
# without one, using a simulated CT phantom whose truth is known. Set `dataset` to a
# MedMNIST flag (e.g. `"pneumoniamnist"`, `"breastmnist"`) to run the same chapter on real
# images you have placed in the data directory.
#
# **What you will learn**
# - preprocessing (HU windowing) and augmentation with MONAI dictionary transforms;
# - a small CNN (conv-ReLU-pool twice, then dense) trained with cross-entropy and Adam by
#   medbench's shared training loop (validation every epoch, early stopping, best epoch);
# - why splits must be made **by patient**, and patient-level K-fold cross-validation;
# - class imbalance: a weighted loss vs a balanced sampler, side by side;
# - transfer learning: pretrain on one task, fine-tune on a small labelled set;
# - evaluation with bootstrap 95% CIs: accuracy, precision, sensitivity, specificity, F1,
#   AUROC, AUPRC, Brier; confusion matrix, ROC, PR and calibration plots; the most
#   confident mistakes.
#
# **Prerequisites:** chapter 00 (losses, Adam) and chapter 01 (CT, Hounsfield units). No GPU, no internet.

# %% tags=["parameters"]
seed = 0  # random seed for data, weights, batches and augmentation
dataset = "phantom"  # "phantom" (simulated CT patches) or a MedMNIST 2D flag whose .npz is in the data directory
medmnist_size = 28  # MedMNIST image size (28, 64, 128, 224)
medmnist_max_train = 3000  # subsample MedMNIST training images to keep CPU time bounded
n_patients = 40  # phantom: simulated patients
patches_per_patient = 20  # phantom: patches per patient
patch_size = 32  # phantom: patch side in pixels (1 mm)
model_name = "small_cnn"  # small_cnn | resnet18 | densenet121 | efficientnet_b0
epochs = 15  # maximum epochs of the main model (early stopping may end sooner)
lr = 0.002  # Adam learning rate
batch_size = 64  # mini-batch size
augment = True  # MONAI random flips / rotations / noise during training
precision = "fp32"  # fp32 | bf16 | auto (bf16 autocast where the CPU supports it)
balance_epochs = 10  # epochs per run in the class-imbalance comparison
cv_folds = 5  # patient-level cross-validation folds
cv_epochs = 8  # epochs per fold
pretrain_epochs = 8  # transfer learning: epochs on the source task (MedMNIST runs; the phantom run reuses the section 3 model)
target_patients = 160  # transfer learning: patients of the target (malignancy) task, 5 nodule patches each
finetune_sizes = [32, 128, 480]  # transfer learning: labelled target patches
finetune_steps = 120  # transfer learning: optimiser steps per run (batch 32), whatever the set size
n_boot = 1000  # bootstrap resamples for confidence intervals
threads = 1  # torch CPU threads: 1 suits small models on 2 shared cores, 0 keeps the torch default

# %%
import numpy as np
import pandas as pd
import torch
from IPython.display import display

import medbench
from medbench import metrics as M
from medbench.data.patches import nodule_patches
from medbench.models import count_parameters, make_model
from medbench.plots.classification import (
    plot_evaluation,
    plot_image_grid,
    plot_learning_curves,
    plot_training_curves,
)
from medbench.tasks.classification import (
    ImageClassifier,
    compare_balance,
    cross_validate,
    fine_tune_curve,
    load_image_data,
    pretrain_detector,
)
from medbench.transforms import describe_pipeline, get_pipeline
from medbench.widgets.prediction_browser import PredictionBrowser
from medbench.widgets.training_panel import TrainingPanel

medbench.seed_everything(seed)
if threads:
    torch.set_num_threads(threads)  # small convolutions gain little from a 2nd thread, and spin-waiting threads hurt when cores are shared

# %% [markdown]
# ## 1. Data, split by patient
#
# Every simulated patient contributes `patches_per_patient` axial 32 × 32 mm patches in
# Hounsfield units: about a quarter are centred on a nodule (solid tissue, ~35 HU, seen at
# different slice offsets), the rest show aerated lung (~−850 HU), vessels and sometimes the
# chest wall. Patches of one patient share texture, noise and the same few nodules, so a
# random split by patch would put near-copies of a test nodule into training and flatter the
# model. We split by **patient** instead.

# %%
data = load_image_data(dataset, seed=seed, n_patients=n_patients, patches_per_patient=patches_per_patient,
                       patch_size=patch_size, medmnist_size=medmnist_size, medmnist_max_train=medmnist_max_train)
(X_train, y_train, g_train), (X_test, y_test, g_test) = data.train, data.test
class_names, window, task = data.class_names, data.intensity_range, data.task
data.summary()

# %%
show = np.concatenate([np.flatnonzero(y_train == k)[:8] for k in range(len(class_names))])
plot_image_grid(X_train[show], [class_names[k] for k in y_train[show]], ncols=8, vmin=window[0], vmax=window[1],
                suptitle="training examples (display window = preprocessing window)");

# %% [markdown]
# ## 2. Preprocessing and augmentation with MONAI
#
# *Preprocessing* is deterministic: `ScaleIntensityRanged` maps the window
# [−1000, 400] HU (air to dense soft tissue) to [0, 1] and clips outside it. medbench caches
# its result once with `CacheDataset`. *Augmentation* is random and runs each epoch on the
# cached arrays: flips on both axes, 90° rotations and a little Gaussian noise — changes
# that do not alter whether a patch contains a nodule, so the network must learn shape and
# density rather than position or orientation. (`benchmarks/train_throughput.py` measures what
# caching saves.) Both pipelines are the named presets of `medbench.transforms` that
# `ImageClassifier` builds too:

# %%
pre = get_pipeline("ct_2d_patch_eval", intensity_range=window)
train_pipe = get_pipeline("ct_2d_patch_train", intensity_range=window, seed=seed)
item = {"image": X_train[show[-1]].astype(np.float32), "label": 1}
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
# computes the validation loss and AUROC after every epoch, stops early when the validation
# loss has not improved for 6 epochs and keeps the best epoch's weights. (Selecting on AUROC
# would be tempting, but on an easy task it reaches 1.0 after an epoch or two and would keep
# an under-trained model whose probabilities are still timid.)

# %%
clf = ImageClassifier(model_name, epochs=epochs, lr=lr, batch_size=batch_size, augment=augment,
                      intensity_range=window, precision=precision, seed=seed)
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
medbench.record("test_auroc", table.loc["auroc", "estimate"])
medbench.record("test_auroc_ci_low", table.loc["auroc", "ci_low"])
medbench.record("test_accuracy", table.loc["accuracy", "estimate"])
medbench.record("test_f1", table.loc["f1", "estimate"])
medbench.record("test_sensitivity", table.loc["sensitivity", "estimate"])
medbench.record("test_specificity", table.loc["specificity", "estimate"])
medbench.record("train_seconds", train_seconds)

# %% [markdown]
# ### The most confident mistakes
#
# Errors the model made with the highest confidence are the most instructive: label noise,
# a nodule cut at its edge by the slice, a vessel seen end-on that looks like a nodule, or a
# nodule touching the chest wall.

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
    display(data.test_meta.iloc[worst][["patient_id", "label", "diameter_mm", "apparent_diameter_mm",
                                       "slice_offset_mm", "wall_fraction", "noise_hu"]].round(2))

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
# ## 5. Class imbalance: weighted loss vs balanced sampling
#
# Only about one patch in four contains a nodule. A network trained on such data can drift
# toward the majority class: high specificity, lower sensitivity at the 0.5 threshold. Two
# standard remedies:
# - **weighted loss**: each class's cross-entropy is weighted by its inverse frequency, so
#   the rare class counts as much in total;
# - **balanced sampling**: a `WeightedRandomSampler` draws both classes equally often, so
#   every mini-batch is balanced (rare cases are seen repeatedly, common ones less).
#
# Both aim at the operating point (sensitivity vs specificity at the 0.5 threshold); AUROC
# does not depend on the threshold. Same data, model, epochs and seed in each run:

# %%
balance_table = compare_balance(clf, data.train, data.test, epochs=balance_epochs)
balance_table.round(3)

# %% [markdown]
# Read the table row by row. When the classes overlap, reweighting raises sensitivity at the
# cost of specificity, and the model — trained as if the classes were equally common —
# over-estimates the rare class's probability (higher mean P(class 1), worse Brier score):
# use the unweighted model's probabilities when calibration matters, or recalibrate. When the
# classes barely overlap, as for most phantom nodules, the three runs differ little and the
# differences are of the size of run-to-run noise: imbalance is a problem of *overlapping*
# classes, and no reweighting adds information. Try a harder setting (fewer `epochs`, or a
# MedMNIST `dataset` such as `breastmnist`) to see the trade-off grow.
#
# ## 6. Transfer learning: pretrain on one task, fine-tune on a small labelled set
#
# Labelling malignancy needs biopsy or follow-up, so it is scarce; nodule *detection* labels
# are cheaper. We pretrain the network on the detection task above (source) and fine-tune
# it on **benign vs malignant** nodules (target: new patients, five patches each) with few
# labelled patches, against the same network trained from scratch, for the same number of
# optimiser steps. The phantom knows each nodule's true malignancy probability, so we can
# also show the best achievable AUROC.

# %%
if dataset == "phantom":
    source_model = clf.model_  # section 3's nodule detector is our pretrained network
else:  # pretrain a detector on phantom patches first
    source_model = pretrain_detector(model_name, n_patients=n_patients, patches_per_patient=patches_per_patient,
                                     patch_size=patch_size, epochs=pretrain_epochs, lr=lr, batch_size=batch_size,
                                     precision=precision, seed=seed)
target = nodule_patches(n_patients=target_patients, patches_per_patient=5, size=patch_size, task="malignancy",
                        seed=seed + 1000)
tgt_train, tgt_test = target.split_by_patient(test_fraction=0.4, seed=seed)
oracle_auroc = M.auroc(tgt_test.labels, tgt_test.meta["p_malignant"].to_numpy())
# each run: the same number of optimiser steps (batch 32) whatever the labelled set's size
transfer = fine_tune_curve(source_model, tgt_train, tgt_test, sizes=finetune_sizes, steps=finetune_steps,
                           model=model_name, precision=precision, seed=seed)
ax = plot_learning_curves(transfer, title="malignancy: fine-tuned vs from scratch").axes[0]
ax.axhline(oracle_auroc, ls=":", c="k", label=f"best achievable {oracle_auroc:.2f}")
ax.legend(fontsize=8)
transfer.pivot(index="n_labelled", columns="init", values="auroc").round(3)

# %% [markdown]
# Read the two curves against each other and against the dotted line, the AUROC of the
# phantom's own malignancy probability (no model can beat it on average). A detector's
# features respond to round, dense blobs and their edges; when they transfer, the pretrained
# curve starts higher with few labels and the curves meet as labels grow. When they do not,
# fine-tuning is no better than starting from scratch — pretraining is an empirical bet, to be
# checked like this on held-out patients, not assumed. Malignancy is a much harder task than
# detection here: labels are random draws from a risk that depends on size and margin, and a
# patient's patches are correlated, so small labelled sets invite memorising patients rather
# than learning size and margin.
#
# ## 7. Patient-level K-fold cross-validation
#
# One train/test split gives one number whose value depends on which patients landed in the
# test set. K-fold cross-validation trains K models, each tested on a different fifth of the
# **patients** (`medbench.data.sequences.kfold_patients`, the same patient splitter every chapter
# uses: every patient in exactly one test fold), and reports the mean ± standard deviation
# across folds.

# %%
cv = cross_validate(clf.clone(epochs=cv_epochs), *data.all, k=cv_folds, seed=seed)
cv_auroc_mean, cv_auroc_std = float(cv["auroc"].mean()), float(cv["auroc"].std(ddof=1))
medbench.record("cv_auroc_mean", cv_auroc_mean)
medbench.record("cv_auroc_std", cv_auroc_std)
print(f"AUROC {cv_auroc_mean:.3f} ± {cv_auroc_std:.3f} (mean ± sd over {cv_folds} patient-level folds)")
cv.round(3)

# %% [markdown]
# ## 8. Train it yourself
#
# The panel trains a fresh model on the same patient split with your choice of network,
# epochs, learning rate and augmentation, drawing the loss and validation AUROC after every
# epoch; **Stop** ends training after the current batch and keeps the best epoch so far.
# (In a report it shows the curves of the model trained in section 3.)

# %%
def train_from_panel(config, callbacks):
    m = ImageClassifier(config["model"], epochs=config["epochs"], lr=config["lr"], augment=config["augment"],
                        batch_size=batch_size, intensity_range=window, precision=precision, seed=seed,
                        fit_kw={"callbacks": callbacks})
    return m.fit(X_train, y_train, g_train)


panel = TrainingPanel(train_from_panel, models=("small_cnn", "resnet18", "densenet121", "efficientnet_b0"),
                      epochs=epochs, lr=lr, augment=augment, metrics=("val_auroc",))
panel.show_records(clf.history_.records, note=f"section 3's run: {len(clf.history_)} epochs")
panel

# %% [markdown]
# ## Summary
#
# - Split by patient, always — for the test set, for validation and for cross-validation.
# - A small CNN with MONAI preprocessing and augmentation separates nodule from lung-tissue
#   patches almost perfectly here; report AUROC with a CI and the threshold-dependent scores
#   (sensitivity, specificity) together, with their trade-off in the ROC curve.
# - Class reweighting and balanced sampling move the operating point and hurt calibration;
#   they do not create information.
# - Pretraining on a related task with plentiful labels helps when target labels are few.
