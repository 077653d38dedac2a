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
# # 03 · 3D segmentation of CT and MRI volumes with MONAI
#
# **What you will learn**
# - how a 3D segmentation pipeline is built from MONAI pieces: dictionary transforms, a
#   `CacheDataset` that runs the deterministic part once, and **label-balanced random crops**
#   (`RandCropByLabelClassesd`) so that a small spleen is seen as often as a large liver;
# - a 3D U-Net trained with the **Dice + cross-entropy** loss, on a laptop CPU (bf16 autocast
#   where the CPU supports it);
# - why volumes are predicted with **`sliding_window_inference`** (train on crops, predict
#   any size) and what ROI size and overlap change;
# - post-processing (argmax, then the **largest connected component** of each organ) and the
#   two scores every segmentation paper reports: **Dice** (overlap) and **HD95** (boundary
#   error in millimetres);
# - honest evaluation: **validation** volumes choose the model, **test** volumes are scored once,
#   beside the floor any model must clear (an atlas that never looks at the image);
# - how to share the trained network the way MONAI users do: as a **MONAI Bundle**.
#
# **Prerequisites:** chapters 01 (images, HU, windows, the SliceViewer) and 02 (training
# with `medbench.training.fit`, the TrainingPanel). No GPU, no internet.
#
# **Run time** at the `default` parameters on a 2-core laptop CPU: about 1-2 minutes (measured:
# 91 s, of which 78 s are the 80 training epochs with validation after each, on 2 CPU cores); the
# `smoke` profile runs in well under a minute.
#
# By default the data are synthetic CT phantoms of the chest and upper abdomen whose ground
# truth is known exactly. Set `dataset = "brain"` for grey/white-matter/CSF segmentation of
# deformed MNI152 T1 brains, or `dataset = "msd:Task09_Spleen"` for a Medical Segmentation
# Decathlon task you have unpacked into `<data dir>/msd/`.

# %% tags=["parameters"]
seed = 0  # random seed for data, weights and crops
dataset = "phantom"  # "phantom", "brain" or "msd:<task folder in <data dir>/msd/>"
n_train = 12  # training volumes (phantom / brain)
n_val = 4  # validation volumes: they choose the model (best epoch with validate_every_epoch)
n_test = 4  # test volumes: scored once, at the end
grid = "64x64x40"  # phantom grid in voxels over a fixed 384 x 384 x 320 mm field of view
model_name = "unet"  # unet, basicunet, unetr, swinunetr (the transformers want a GPU)
channels = "16,32,64,128"  # network width per level
epochs = 80  # training epochs
lr = 0.003  # peak learning rate (AdamW)
schedule = "onecycle"  # learning-rate schedule: "onecycle", "cosine" or "none"
batch_size = 2  # volumes per batch (each gives num_samples crops)
num_samples = 2  # label-balanced crops per volume per epoch
roi_size = "48x48x32"  # training crop size, also the sliding-window ROI (voxels)
overlap = 0.25  # sliding-window overlap
precision = "auto"  # "auto": bf16 autocast where the CPU supports it, else fp32
keep_largest = True  # keep only the largest connected component of each structure
validate_every_epoch = True  # validation Dice after each epoch, best epoch kept (~40 % slower); False keeps the final epoch
interactive = True  # build the widgets (reports embed their state too)
bundle_dir = ""  # if set, export the trained UNet there as a MONAI Bundle

# %%
import time

import numpy as np
import pandas as pd
import torch

import medbench
from medbench.models.bundle import export_bundle
from medbench.models.segmentation import SEGMENTATION_MODELS
from medbench.plots.segmentation import plot_history, plot_overlays, plot_scores
from medbench.tasks import segmentation as seg
from medbench.transforms import describe_pipeline
from medbench.widgets.inference_panel import InferencePanel
from medbench.widgets.slice_viewer import SliceViewer
from medbench.widgets.training_panel import TrainingPanel

medbench.seed_everything(seed)
torch.set_num_threads(min(2, torch.get_num_threads()))

cfg = seg.config_from_parameters(
    dataset=dataset, grid=grid, channels=channels, roi_size=roi_size, schedule=schedule, model_name=model_name,
    n_train=n_train, n_val=n_val, n_test=n_test, epochs=epochs, lr=lr, batch_size=batch_size, num_samples=num_samples,
    overlap=overlap, precision=precision, keep_largest=keep_largest, validate_every_epoch=validate_every_epoch,
    seed=seed,
)  # dataset="brain" keeps every component: CSF is not one connected piece

# %% [markdown]
# ## 1. Data
#
# Each case is a dict `{"image": (1, X, Y, Z), "label": (1, X, Y, Z)}`. The phantom is
# generated on a 64 × 64 × 40 grid of 6 × 6 × 8 mm voxels: the same 384 × 384 × 320 mm field of
# view as the phantom's default 96 × 96 × 64 grid of 4 × 4 × 5 mm voxels, with
# $163\,840 / 589\,824 \approx 1/3.6$ of its voxels — small enough for a CPU, large enough that a
# spleen still has ~500 voxels. Lesions are switched off; body, fat and bone count as
# background. The cases fall into three disjoint sets: **training** (the network learns from
# them), **validation** (they choose the model) and **test** (scored once, at the end, and never
# used for any decision).

# %%
t0 = time.perf_counter()
data = seg.build_dataset(cfg)
print(f"{len(data.train)} training, {len(data.val)} validation and {len(data.test)} test volumes from {data.source} "
      f"({time.perf_counter() - t0:.1f} s); spacing {data.spacing} mm")
if data.kind == "array":
    counts = pd.DataFrame(
        [np.bincount(np.asarray(c["label"]).ravel(), minlength=data.n_classes)[1:] for c in data.train],
        columns=data.structures)
    display(counts.describe().loc[["mean", "min", "max"]].round(0).astype(int).rename_axis("voxels per case"))

# %%
first = data.train[0]
if data.kind == "array":
    img0, lab0 = np.asarray(first["image"][0]), np.asarray(first["label"][0])
    fig = plot_overlays(img0, lab0, lab0, data.structures, spacing=data.spacing,
                        window=(-400, 400) if data.modality == "ct" else None, title="a training case (truth twice)")

# %%
if interactive and data.kind == "array":
    case_viewer = SliceViewer(img0, lab0, spacing=data.spacing, label_names={i + 1: s for i, s in enumerate(data.structures)},
                              modality=data.modality, size=360)
    display(case_viewer)

# %% [markdown]
# ## 2. Transforms: cache what is deterministic, crop by label class
#
# Both pipelines come from the `ct_3d_train` / `ct_3d_eval` presets of `medbench.transforms`
# (`mri_3d_*` for the brain). Their deterministic head (CT: a soft-tissue window and a lung
# window stacked as two input channels, because no single window shows both lungs and
# abdominal organs; MRI: z-score) runs **once** per volume inside `CacheDataset`. The random
# tail runs every epoch: `RandCropByLabelClassesd` centres each crop on a voxel of a class
# drawn with equal ratios, then a small intensity shift. (No left-right flip: it would turn a
# left kidney into a right one.)

# %%
train_tf, eval_tf = seg.make_pipelines(data, cfg)
pd.DataFrame({"training": pd.Series(describe_pipeline(train_tf)),
              "evaluation": pd.Series(describe_pipeline(eval_tf))}).fillna("")

# %%
train_loader, val_loader, val_ds = seg.make_loaders(data, cfg)
batch = next(iter(train_loader))
print("one batch:", {k: tuple(v.shape) for k, v in batch.items() if hasattr(v, "shape")},
      "- classes present:", sorted(torch.unique(batch["label"]).tolist()))

# %% [markdown]
# ## 3. Model and training
#
# A MONAI `UNet` (residual units, batch norm) with four levels; the loss is `DiceCELoss`
# (soft Dice over all classes + cross-entropy). `SlidingWindowModel` wraps the network so that
# in evaluation mode it predicts whole volumes with `sliding_window_inference` (Gaussian
# weighting of overlapping windows); `medbench.training.fit` runs the loop (one-cycle AdamW, 80 epochs,
# bf16 autocast on CPUs with AVX512-BF16/AMX). Which weights are kept: with
# `validate_every_epoch` (the default) the epoch of best **validation** Dice; without it (faster)
# the **final** epoch, so that no choice is made at all — never the epoch of lowest *training*
# loss, and never anything chosen on the test volumes.

# %%
model = seg.build_model(data, cfg)
n_params = sum(p.numel() for p in model.parameters())
print(f"{cfg.model}: {n_params / 1e6:.2f} M parameters, input channels {seg.in_channels_for(data.modality)}, "
      f"{data.n_classes} output classes")
history = seg.train(model, train_loader, val_loader if cfg.validate_every_epoch else None, cfg=cfg,
                    n_classes=data.n_classes)
train_seconds = history.train_seconds
kept = (f"epoch {history.best_epoch} (best validation Dice)" if cfg.validate_every_epoch
        else f"the final epoch ({len(history)}), no selection")
print(f"trained {len(history)} epochs in {train_seconds:.0f} s ({history.precision}); weights kept: {kept}")
plot_history(history, title="training");

# %% [markdown]
# The **TrainingPanel** below shows this run's curves. Press *Train* to retrain with other
# settings (it trains in the background; *Stop* ends it after the current batch).

# %%
def train_from_panel(config, callbacks):
    c = cfg.replace(model=config["model"], epochs=config["epochs"], lr=config["lr"])
    m = seg.build_model(data, c)
    return m, seg.train(m, train_loader, val_loader if c.validate_every_epoch else None, cfg=c,
                        n_classes=data.n_classes, callbacks=callbacks)


if interactive:
    panel = TrainingPanel(train_from_panel, models=SEGMENTATION_MODELS, epochs=epochs, lr=lr,
                          augment=None,  # the crops and intensity shift are part of the pipeline, not a switch
                          metrics=("val_dice",) if cfg.validate_every_epoch else ())
    panel.show_records(history.records, note=f"the run above: {len(history)} epochs")
    display(panel)

# %% [markdown]
# ## 4. Evaluation: validation, then test once, beside the atlas floor
#
# Every volume is predicted by sliding window, post-processed (argmax, then the largest
# connected component of each structure) and scored with `monai.metrics`:
#
# $$\mathrm{Dice}(P, T) = \frac{2\,|P \cap T|}{|P| + |T|}, \qquad
# \mathrm{HD95}(P, T) = \max\big(\operatorname{P}_{95}\{d(p, \partial T)\}_{p \in \partial P},\;
# \operatorname{P}_{95}\{d(t, \partial P)\}_{t \in \partial T}\big)$$
#
# (HD95 in mm, robust to a few stray voxels, unlike the maximum). An organ the model misses
# entirely has Dice 0 and **no** HD95: it is counted in `n_missed_organs` and listed, never
# silently dropped from the mean.
#
# The **atlas** baseline uses no image at all: each voxel gets the label most training volumes
# have there. It shows what position alone is worth on phantoms that share one grid.

# %%
eval_kw = dict(keep_largest=cfg.keep_largest, precision=cfg.precision)
val_result = seg.evaluate(model, val_ds, data.structures, data.spacing, **eval_kw)
test_ds = seg.eval_dataset(data.test, data, cfg)
result = seg.evaluate(model, test_ds, data.structures, data.spacing, **eval_kw)  # the one look at test
atlas_result = seg.evaluate_atlas(data, test_ds)  # None for MSD files (not on one grid)
summary = result.summary().rename(columns={"dice": "test Dice", "hd95_mm": "test HD95 (mm)"})
summary["validation Dice"] = val_result.summary()["dice"]
if atlas_result is not None:
    summary["atlas Dice (test)"] = atlas_result.summary()["dice"]
summary.loc["mean"] = summary.mean()
summary.loc["mean", "test HD95 (mm)"] = result.mean_hd95
summary.round(3)

# %% [markdown]
# **What the numbers mean.** The test column is the chapter's headline: volumes that played no
# part in training or in any choice. Validation and test Dice should agree within the noise of a
# few volumes; a validation score far above test would mean the choices overfit the validation
# set. The atlas column is the floor: lungs and liver sit in roughly the same place in every
# phantom, so position alone already scores a fair Dice there, while the small, mobile organs
# (spleen, kidneys) need the image. The gap between the atlas and the UNet is what the network
# learnt from the pixels.

# %%
print(f"missed organs on test: {result.n_missed}")
result.missed_organs()

# %%
plot_scores(result.table, title=f"{len(test_ds)} test volumes");

# %%
metrics = seg.result_metrics(result, history, val_result, atlas_result)
for name, value in metrics.items():
    medbench.record(name, value)

# %% [markdown]
# What post-processing bought: the same predictions scored without the largest-component step
# (`evaluate` scores both from one sliding-window pass).

# %%
gain = result.postprocessing_gain()
gain.round(3)

# %% [markdown]
# Dice counts voxels, and the stray islands that the largest-component step removes from a
# well-trained model's output are small, so the step moves Dice only a little; it can matter more
# for HD95, because one island far from an organ sets that organ's 95th-percentile boundary
# distance. A Dice that *drops* means the largest component was not the whole structure: either
# the structure really has several pieces (the brain's CSF, which is why `dataset="brain"`
# switches the step off), or the model is so briefly trained (as at the `smoke` profile) that its
# largest blob is not the organ. These columns are test volumes, shown to explain the step:
# whether to keep it is a choice, and choices are made on the validation volumes.

# %%
step = gain["argmax + largest component"] - gain["argmax only"]
print(f"mean test Dice {gain['argmax only'].mean():.3f} with argmax only, "
      f"{gain['argmax + largest component'].mean():.3f} with the largest component; per structure the step "
      f"changes Dice by {step.min():+.4f} to {step.max():+.4f} (largest change: {step.abs().idxmax()})")

# %% [markdown]
# ## 5. Truth against prediction
#
# The worst test case (lowest mean Dice), axial slices and the SliceViewer in compare mode.

# %%
worst = result.worst_case()
shown_image = (np.asarray(next(c for c in data.test if c["case"] == worst)["image"][0]) if data.kind == "array"
               else np.asarray(result.images[worst][0]))  # HU for generated CT; MSD shows the windowed input
plot_overlays(shown_image, result.labels[worst], result.predictions[worst], data.structures, spacing=data.spacing,
              window=(-400, 400) if data.kind == "array" and data.modality == "ct" else None,
              title=f"{worst}: mean Dice {result.table.query('case == @worst')['dice'].mean():.3f}");

# %%
if interactive:
    viewer = SliceViewer(shown_image, np.asarray(result.labels[worst][0]), np.asarray(result.predictions[worst][0]),
                         spacing=data.spacing, compare=True, label_names={i + 1: s for i, s in enumerate(data.structures)},
                         modality=data.modality if data.kind == "array" else "mri", size=360)
    display(viewer)

# %% [markdown]
# ## 6. Sliding-window inference: ROI and overlap
#
# Pick a validation case, an ROI and an overlap and run inference (explore on validation
# volumes: the test volumes have had their one look). Smaller windows see less context and
# need more forward passes; more overlap costs more windows but blends seams away.

# %%
inference_seconds = result.seconds_per_volume
print(f"sliding-window inference: {inference_seconds:.2f} s per volume (ROI {cfg.roi_size}, overlap {cfg.overlap})")
if interactive:
    hu_images = [np.asarray(c["image"][0]) for c in data.val] if data.kind == "array" else None
    inference_panel = InferencePanel(model, val_ds, data.structures, data.spacing, display_images=hu_images,
                                     overlap=cfg.overlap, keep_largest=cfg.keep_largest, precision=cfg.precision,
                                     modality=data.modality if data.kind == "array" else "mri")
    inference_panel.run()
    display(inference_panel)

# %% [markdown]
# ## 7. Share the trained network as a MONAI Bundle
#
# MONAI users share trained networks as **bundles**, folders that run with MONAI, PyTorch and
# nibabel alone (no medbench): `configs/metadata.json` (inputs, outputs, label ids, versions,
# licence, intended use), `configs/inference.json` (the network definition, the same
# preprocessing as the `ct_3d_eval` preset, the sliding-window inferer and the post-processing,
# in MONAI's config syntax), `models/model.pt` (the weights) and `docs/README.md` (labels,
# input, how to run it, limits). Set the parameter `bundle_dir` to write this chapter's network
# there; from a terminal the same export is
#
# ```
# medbench train segmentation --config FILE.yaml --out run/
# medbench export bundle --run run/ --out my_bundle/
# ```
#
# The bundle's `docs/README.md` shows how to load it with `monai.bundle.ConfigParser` and
# segment a NIfTI file.

# %%
if bundle_dir:
    bundle = export_bundle(model, cfg, data, bundle_dir, metrics=metrics)
    print(f"MONAI Bundle written to {bundle.resolve()}:")
    print("\n".join(f"  {p.relative_to(bundle)}" for p in sorted(bundle.rglob("*")) if p.is_file()))
else:
    print("bundle_dir is empty: no bundle written (set it to a folder to export the trained network)")

# %% [markdown]
# ## Summary
#
# - Caching the deterministic transforms and cropping by label class are the two cheapest
#   speed-ups of a 3D pipeline; bf16 autocast adds more on CPUs that support it
#   (`benchmarks/segmentation_pipeline.py` measures all of this against MONAI's spleen
#   tutorial recipe).
# - Dice rewards overlap and is forgiving for large organs; HD95 exposes boundary errors and
#   stray islands, which the largest-component step removes.
# - The phantom's truth is exact; on real scans the reference itself is a human tracing with
#   its own inter-rater Dice (often 0.85-0.95 for abdominal organs), which bounds what any
#   model can show.
# - For scale: `medbench train segmentation --config FILE.yaml` runs this pipeline from a
#   config, and `torchrun --nproc_per_node=N -m medbench.cli train segmentation --config FILE.yaml`
#   trains it with DDP.
#
# > **Common mistakes.** Picking the best epoch (or the post-processing, or the ROI) on the
# > volumes you then report: the score is then optimistic by the amount of the choice. Averaging
# > HD95 with `nanmean` so that a missed organ simply disappears from the mean. Flipping
# > left-right as augmentation when the labels say *left* and *right*. Comparing a model with
# > nothing: without the atlas floor, "Dice 0.6" sounds like something.
#
# ## References
#
# - MONAI Consortium, *MONAI: Medical Open Network for AI* (UNet, DiceCELoss,
#   `sliding_window_inference`, `compute_dice`, `compute_hausdorff_distance`):
#   https://docs.monai.io
# - Ronneberger, Fischer & Brox (2015), *U-Net: Convolutional networks for biomedical image
#   segmentation*, MICCAI; Çiçek et al. (2016), *3D U-Net*, MICCAI.
# - Milletari, Navab & Ahmadi (2016), *V-Net* (the soft Dice loss), 3DV.
# - Dice (1945), *Measures of the amount of ecologic association between species*, Ecology 26;
#   Huttenlocher, Klanderman & Rucklidge (1993), *Comparing images using the Hausdorff
#   distance*, IEEE TPAMI (HD95 is its 95th-percentile variant, as in the Medical Segmentation
#   Decathlon: Antonelli et al. 2022, Nature Communications).
# - Maier-Hein et al. (2018), *Why rankings of biomedical image analysis competitions should be
#   interpreted with care*, Nature Communications (missing predictions and metric choice).
# - Phantom intensities (HU) and shapes: `medbench/data/phantom.py`, with its sources; brain:
#   the MNI152 2009 template shipped with nilearn.
# - Every number in this chapter is computed above from the phantoms generated with `seed`.
#
# **Exercises** (nbgrader format): `notebooks/exercises/03_volume_segmentation_exercises.ipynb`: 1. *Dice and HD95 by hand* (compute); 2. *A validation score that is too good* (investigate); 3. *Is the gain on the small organs real?* (interpret).

