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
#   error in millimetres).
#
# **Prerequisites:** chapters 01 (images, HU, windows, the SliceViewer) and 02 (training
# with `medbench.training.fit`, the TrainingPanel). No GPU, no internet.
#
# By default the data are synthetic CT phantoms of the chest and upper abdomen whose ground
# truth is known exactly. Set `dataset = "brain"` for grey/white-matter/CSF segmentation of
# deformed MNI152 T1 brains, or `dataset = "msd:Task09_Spleen"` for a Medical Segmentation
# Decathlon task you have unpacked into `<data dir>/msd/`.

# %% tags=["parameters"]
seed = 0  # random seed for data, weights and crops
dataset = "phantom"  # "phantom", "brain" or "msd:<task folder in <data dir>/msd/>"
n_train = 12  # training volumes (phantom / brain)
n_val = 4  # held-out volumes
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
validate_every_epoch = False  # sliding-window validation Dice after each epoch (curves, best epoch; ~40 % slower)
interactive = True  # build the widgets (reports embed their state too)

# %%
import time

import numpy as np
import pandas as pd
import torch

import medbench
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
    n_train=n_train, n_val=n_val, epochs=epochs, lr=lr, batch_size=batch_size, num_samples=num_samples,
    overlap=overlap, precision=precision, keep_largest=keep_largest, validate_every_epoch=validate_every_epoch,
    seed=seed,
)  # dataset="brain" keeps every component: CSF is not one connected piece

# %% [markdown]
# ## 1. Data
#
# Each case is a dict `{"image": (1, X, Y, Z), "label": (1, X, Y, Z)}`. The phantom is
# generated on a 64 × 64 × 40 grid of 6 × 6 × 8 mm voxels (the same 384 × 384 × 320 mm field
# of view as the full-resolution phantom, 1/12 of the voxels): small enough for a CPU, large
# enough that a spleen still has ~500 voxels. Lesions are switched off; body, fat and bone
# count as background.

# %%
t0 = time.perf_counter()
data = seg.build_dataset(cfg)
print(f"{len(data.train)} training and {len(data.val)} validation volumes from {data.source} "
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
# bf16 autocast on CPUs with AVX512-BF16/AMX, best epoch by validation Dice).

# %%
model = seg.build_model(data, cfg)
n_params = sum(p.numel() for p in model.parameters())
print(f"{cfg.model}: {n_params / 1e6:.2f} M parameters, input channels {seg.in_channels_for(data.modality)}, "
      f"{data.n_classes} output classes")
history = seg.train(model, train_loader, val_loader if cfg.validate_every_epoch else None, cfg=cfg,
                    n_classes=data.n_classes)
train_seconds = history.train_seconds
print(f"trained {len(history)} epochs in {train_seconds:.0f} s ({history.precision}); best epoch {history.best_epoch}")
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
    panel = TrainingPanel(train_from_panel, models=SEGMENTATION_MODELS, epochs=epochs, lr=lr, augment=True,
                          metrics=("val_dice",) if cfg.validate_every_epoch else ())
    panel.show_records(history.records, note=f"the run above: {len(history)} epochs")
    display(panel)

# %% [markdown]
# ## 4. Evaluation on held-out volumes
#
# Every validation volume is predicted by sliding window, post-processed (argmax, then the
# largest connected component of each structure) and scored with `monai.metrics`: Dice =
# 2|P∩T| / (|P|+|T|); HD95 = the 95th percentile of the distances (mm) between the two
# surfaces, taken both ways — robust to a few stray voxels, unlike the maximum.

# %%
result = seg.evaluate(model, val_ds, data.structures, data.spacing, keep_largest=cfg.keep_largest,
                      precision=cfg.precision)
summary = result.summary()
summary.loc["mean"] = [result.mean_dice, result.mean_hd95]
summary.round(3)

# %%
plot_scores(result.table, title=f"{len(val_ds)} held-out volumes");

# %%
metrics = seg.result_metrics(result, history)
for name, value in metrics.items():
    medbench.record(name, value)

# %% [markdown]
# What post-processing bought: the same predictions scored without the largest-component step
# (`evaluate` scores both from one sliding-window pass).

# %%
result.postprocessing_gain().round(3)

# %% [markdown]
# ## 5. Truth against prediction
#
# The worst held-out case (lowest mean Dice), axial slices and the SliceViewer in compare mode.

# %%
worst = result.worst_case()
shown_image = (np.asarray(next(c for c in data.val if c["case"] == worst)["image"][0]) if data.kind == "array"
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
# Pick a case, an ROI and an overlap and run inference. Smaller windows see less context and
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
