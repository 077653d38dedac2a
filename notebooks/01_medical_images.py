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
# # 01 · Medical images: DICOM, NIfTI, Hounsfield units, orientation and spacing
#
# **Learning objectives.** After this chapter you can
# - explain what a CT pixel means: stored values, `RescaleSlope`/`RescaleIntercept` and **Hounsfield
#   units (HU)**, and why radiologists look at CT through **windows** (lung, bone, brain ...);
# - that MRI intensities have no physical unit, and how to normalise them (z-score, percentiles);
# - NIfTI volumes with an **affine**, and a real 3D brain (MNI152) with grey/white-matter maps;
# - a simulated CT with known ground truth (organs, lesions), for chapters that need labels;
# - **orientation** (RAS vs DICOM's LPS) and **voxel spacing**, and what goes wrong without them;
# - the `SliceViewer` widget; MONAI transform pipelines and what each augmentation does;
# - where every dataset comes from and under which licence.
#
# **Prerequisites:** chapter 00 (NumPy, PyTorch basics); basic anatomy terms (left/right,
# anterior/posterior, superior/inferior). No GPU, no internet: every image here ships inside an
# installed package or is simulated.
#
# **Expected run time:** about one minute at the `default` profile on a laptop CPU (2 cores).

# %% tags=["parameters"]
seed = 0  # seed of the phantom and of the augmentations
phantom_size = 96  # phantom voxels along x and y (z gets two thirds); the field of view stays 384 mm
latency_updates = 30  # SliceViewer updates timed on the 512 x 512 CT slice
n_aug_draws = 4  # random draws per augmentation in the preview
crop_size = 48  # side (pixels) of the label-balanced training crops

# %%
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

import medbench
from medbench import transforms as T
from medbench.data.brain import BRAIN_LABELS, load_mni152
from medbench.data.catalog import datasets_table, n_available
from medbench.data.nifti import read_nifti, write_nifti
from medbench.data.phantom import PHANTOM_LABELS, label_statistics, make_ct_phantom
from medbench.data.samples import sample_ct, sample_mr
from medbench.plots import imaging as P
from medbench.plots.phantom import plot_brain, plot_phantom
from medbench.widgets.slice_viewer import SliceViewer, time_updates

medbench.seed_everything(seed);

# %% [markdown]
# ## 1. A real CT slice, in Hounsfield units
#
# The first image is a 512 × 512 axial slice of a head CT (CQ500 collection, shipped in
# `pydicom-data`). A CT scanner measures how strongly each voxel attenuates X-rays, relative to
# water. The **Hounsfield scale** fixes two points: water = 0 HU and air = −1000 HU. Fat is
# around −100, soft tissue +20…+60, blood +40, bone several hundred to over +1000.
#
# DICOM stores integers; the HU value is `stored × RescaleSlope + RescaleIntercept`.
# `medbench.data.dicom.read_dicom` applies this, sorts slices, and computes spacing and the affine.

# %%
ct = sample_ct()
ct_meta = {k: ct["meta"][k] for k in ("modality", "units", "rescale_slope", "rescale_intercept",
                                       "window_center", "window_width", "transfer_syntax")}
pd.Series({**ct_meta, "shape (X, Y)": ct["image"].shape, "pixel spacing (mm)": ct["spacing"],
           "orientation": ct["orientation"]}, name="head CT").to_frame()

# %% [markdown]
# **Reading the header.** `RescaleSlope` 1 and `RescaleIntercept` −1024 mean HU = stored − 1024:
# a stored 0 is −1024 HU, so air (−1000 HU) is stored as ≈ 24. A reader that forgot the rescale
# would report air at ≈ +24 "HU" — the check below would catch it. The header's own display
# window (centre 40, width 100) is a brain window. Pixels are 0.48 mm square.

# %% [markdown]
# The scanner only reconstructs a disc; pixels outside it hold a *padding* value (−3024 here)
# that is not a measurement. The reader marks them in `padding_mask`. What is left outside the
# patient is room air, which must read about −1000 HU — a quick check of the calibration.
# We find the body (tissue above −500 HU, largest connected piece, holes filled), grow it by
# 3 mm to stay clear of the partial-volume edge, and take the median of the rest.

# %%
body = T.body_mask(ct["image"], padding_mask=ct["padding_mask"])
margin = int(round(3.0 / ct["spacing"][0]))
air = ~ndimage.binary_dilation(body, iterations=margin) & ~ct["padding_mask"]
ct_air_hu_median = float(np.median(ct["image"][air]))
print(f"{air.sum()} air pixels outside the head; median {ct_air_hu_median:.1f} HU "
      f"(inside the head: median {np.median(ct['image'][body]):.1f} HU)")
medbench.record("ct_air_hu_median", ct_air_hu_median);

# %% [markdown]
# ### Windowing
#
# Monitors show ~256 grey levels, a CT spans ~4000 HU. A **window** of width W centred at level
# L maps `[L − W/2, L + W/2]` to black…white and clips the rest. Narrow windows separate tissues
# with similar HU (grey vs white matter differ by only ~10 HU); wide ones show bone or lung.
# The presets below are the standard values listed by Radiopaedia ("Windowing (CT)").

# %%
P.window_table()

# %% [markdown]
# Each window shows only the HU between its "lowest" and "highest" columns (level ∓ width/2);
# everything below is black, above is white. The brain window spans just 80 HU (0 to 80), so
# grey and white matter, ~10 HU apart, get ~30 of the 256 grey levels between them; the bone
# and lung windows span 1,500–1,800 HU and show structure only where densities differ by
# hundreds of HU.

# %%
P.plot_ct_windows(ct["image"], padding_mask=ct["padding_mask"],
                  title="One CT slice, four windows; left: its HU histogram (padding excluded)");

# %% [markdown]
# Under the brain window the small density differences of the brain (and a large hypodense
# area) become visible, while the skull is just white; the bone window shows the skull's
# structure; the lung window is almost useless for a head.

# %% [markdown]
# ## 2. MRI: no physical unit
#
# An MR signal depends on the sequence, the coil and the scanner gain, so the same tissue can
# read 300 in one scan and 1,200 in the next. Networks therefore see MR images after a per-scan
# normalisation: a **z-score** (subtract the mean, divide by the standard deviation, over the
# non-zero voxels) or a **percentile** scaling (0.5th–99.5th percentile → 0…1). The sample is
# an Enhanced MR (multi-frame) DICOM from pydicom's test files: 10 frames of 64 × 64.

# %%
mr = sample_mr()
(mr_ras,), mr_spacing, mr_codes = T.to_ras([mr["image"]], mr["affine"])
print(f"stored {mr['image'].shape} in {mr_codes} order -> RAS {mr_ras.shape}, spacing {mr_spacing} mm")
P.plot_slices(mr_ras, mr_spacing, n=10, title="Enhanced MR: its 10 frames, placed by the header's geometry");

# %%
zscored = T.mri_zscore()(T.case_to_metatensors({"image": mr_ras}))["image"]  # channel-first copies
scaled = T.mri_percentile()(T.case_to_metatensors({"image": mr_ras}))["image"]
P.plot_histograms({"raw MR signal": mr_ras, "z-score (non-zero voxels)": zscored,
                   "percentiles 0.5-99.5 -> [0, 1]": scaled});

# %% [markdown]
# ## 3. NIfTI and the MNI152 brain with tissue maps
#
# Research pipelines store volumes as **NIfTI** (`.nii.gz`): one array plus a 4 × 4 **affine**
# that maps voxel indices `(i, j, k)` to millimetres in a world frame whose axes point to the
# patient's Right, Anterior and Superior (RAS). The MNI152 template (ICBM 2009a, shipped with
# nilearn) is an average of 152 adult brains at 1 mm, with probability maps of grey matter
# (GM), white matter (WM) and the brain mask; the label map is their argmax.
# We write it to a NIfTI file and read it back with the reader, as with any downloaded scan.

# %%
brain = load_mni152()
nifti_path = write_nifti(Path(tempfile.mkdtemp()) / "mni152_t1.nii", brain["image"], brain["affine"])
nii = read_nifti(nifti_path)
print("affine:\n", nii["affine"], "\nspacing", nii["spacing"], "orientation", nii["orientation"],
      "\nround trip identical:", bool(np.array_equal(nii["image"], brain["image"])))

# %%
plot_brain(brain, n_slices=4, title="MNI152 T1 (1 mm) with CSF/other, grey and white matter");

# %%
voxel_ml = float(np.prod(brain["spacing"])) / 1000.0
pd.Series({name: float((brain["label"] == i).sum() * voxel_ml) for name, i in BRAIN_LABELS.items() if i > 0},
          name="volume (mL)").to_frame().round(0)

# %% [markdown]
# A volume is a voxel count times the voxel volume (here 1 mm³ = 0.001 mL): the same count at
# another spacing is another volume, which is why spacing travels with every image. These are
# the volumes of the *template's* argmax labels: an average of 152 registered brains is blurred,
# so each partial-volume voxel goes to whichever tissue is most probable. Do not read them as
# one patient's tissue volumes.

# %% [markdown]
# ## 4. A CT phantom with known ground truth
#
# Real CTs with organ labels cannot ship offline, so medbench simulates them: a chest and upper
# abdomen with lungs, heart, liver, spleen, kidneys, aorta, bones and fat, each filled with its
# textbook HU value plus texture and noise, deformed per case, with lung nodules and liver
# lesions. Because we know every label, later chapters can compare a model with the truth.

# %%
shape = (phantom_size, phantom_size, int(round(phantom_size * 2 / 3)))
spacing = (384.0 / shape[0], 384.0 / shape[1], 320.0 / shape[2])
case = make_ct_phantom(shape=shape, spacing=spacing, seed=seed)
plot_phantom(case, n_slices=4);

# %% [markdown]
# The measured HU of each structure sit where the textbooks put them — a sanity check of the
# simulator (and a table to compare a real scan with):

# %%
label_statistics(case).set_index("label")[["n_voxels", "volume_ml", "median_hu"]].round(1)

# %% [markdown]
# The median HU read like a textbook: background and airway ≈ −1000 (air), lungs ≈ −850
# (air-filled tissue), fat ≈ −100, soft tissue and blood (heart, aorta, kidneys, spleen, liver)
# +30…+60, bone several hundred. The "lesion" label mixes lung nodules and liver lesions, and
# small lesions share their voxels with the surrounding lung or liver (partial volume), so its
# median is not one tissue's value. Volumes and HU barely change with `phantom_size`: it sets
# the voxel size, not the anatomy.

# %% [markdown]
# ## 5. Orientation and spacing
#
# **Orientation.** An array has no idea where the patient's left is: the affine says it. DICOM
# stores axial slices in **LPS** order (x grows to the patient's Left, y to Posterior); NIfTI
# and MONAI use **RAS**. Top left below: the phantom stored LPS-fashion and shown naively with
# `imshow(volume[:, :, k])` — rotated, with the patient's right and left swapped relative to
# any radiology viewer. Top right: after reorienting to RAS with the affine, in the
# *radiological* convention (patient's right on the screen's left, anterior up).
#
# **Spacing.** Voxels are rarely cubes: here 4 mm in-plane but 20 mm between slices (a
# thick-slice scan). Drawn with square pixels (bottom left) the body is squashed 5×; with the
# physical aspect (bottom right) it has its real shape. Networks suffer the same way, hence
# `Spacingd` (resample to one spacing) before training.

# %%
thick = make_ct_phantom(shape=(phantom_size, phantom_size, 16), spacing=(384.0 / phantom_size,) * 2 + (20.0,),
                        seed=seed)
(lps_image, lps_label), lps_affine = T.reorient([thick["image"], thick["label"]], thick["affine"], "LPS")
print("RAS affine:\n", thick["affine"].round(2), "\nthe same voxels stored LPS:\n", lps_affine.round(2))
P.plot_orientation_spacing(lps_image, lps_affine, (lps_label == PHANTOM_LABELS["liver"]), window="soft_tissue",
                           title="Orientation (top) and spacing (bottom); red: liver");

# %% [markdown]
# The three orthogonal planes of the phantom, each with its physical aspect and its
# anatomical directions (R/L, A/P, S/I):

# %%
P.plot_planes(case["image"], case["spacing"], case["label"], window="soft_tissue",
              colors={PHANTOM_LABELS["body"]: None, PHANTOM_LABELS["fat"]: None},
              title="axial, coronal, sagittal (soft-tissue window, labels overlaid)");

# %% [markdown]
# ## 6. The SliceViewer
#
# `SliceViewer` shows a volume slice by slice: choose the plane, move through slices, pick a
# window preset or drag width and level, fade the labels in and out. It renders NumPy → PNG
# directly (no matplotlib redraw), so dragging a slider stays fluid. Set `colors={id: None}`
# to hide a label (here the body and fat, which would cover everything).
# In a report the widget is replaced by the static snapshot below it.

# %%
viewer = SliceViewer(case, label_names=PHANTOM_LABELS, window="soft_tissue", opacity=0.4,
                     colors={PHANTOM_LABELS["body"]: None, PHANTOM_LABELS["fat"]: None})
viewer

# %%
viewer.plane = "coronal"
viewer.snapshot()

# %% [markdown]
# The viewer also opens files: here the NIfTI we wrote in section 3 (through the same reader,
# so the affine places it in RAS), with the tissue labels, in the sagittal plane.

# %%
brain_viewer = SliceViewer(nifti_path, brain["label"], label_names=BRAIN_LABELS, plane="sagittal", opacity=0.3,
                           colors={BRAIN_LABELS["csf_other"]: "#377eb8", BRAIN_LABELS["grey_matter"]: "#e41a1c",
                                   BRAIN_LABELS["white_matter"]: "#ffd92f"})
brain_viewer.slice = 80  # x = -18 mm: 18 mm left of the midline (MNI x = index - 98)
brain_viewer.snapshot()

# %% [markdown]
# **Compare mode** puts the truth and a prediction side by side on the same slice. The
# "prediction" here is a deliberately flawed segmentation: the liver grown by two voxels into
# its neighbours and the lesions missed — the kind of errors chapter 03 measures with Dice.

# %%
pred = case["label"].copy()
liver = PHANTOM_LABELS["liver"]
pred[(pred == PHANTOM_LABELS["lesion"])] = liver
grown = ndimage.binary_dilation(case["label"] == liver, iterations=2) & (pred == PHANTOM_LABELS["body"])
pred[grown] = liver
truth_l, pred_l = case["label"] == liver, pred == liver
print(f"liver Dice of the flawed prediction: {2 * (truth_l & pred_l).sum() / (truth_l.sum() + pred_l.sum()):.3f}")
compare = SliceViewer(case, prediction=pred, compare=True, plane="coronal", label_names=PHANTOM_LABELS,
                      colors={PHANTOM_LABELS["body"]: None, PHANTOM_LABELS["fat"]: None}, opacity=0.5)
compare

# %%
compare.snapshot()

# %% [markdown]
# **How fast is an update?** We time the viewer on the real 512 × 512 CT slice with the body
# outlined, driving it as a slider would (each update: window, overlay, PNG, widget).
# `benchmarks/viewer_latency.py` compares the same against a matplotlib redraw.

# %%
ct_viewer = SliceViewer(ct, body.astype(np.uint8), label_names={"head": 1}, colors={1: "#00a0ff"},
                        window="brain", opacity=0.2)
update_ms = time_updates(ct_viewer, n=latency_updates)
viewer_update_ms_median = float(np.median(update_ms))
print(f"{latency_updates} updates of a {ct_viewer.frame.shape[0]}x{ct_viewer.frame.shape[1]} slice: "
      f"median {viewer_update_ms_median:.1f} ms, 90th percentile {np.percentile(update_ms, 90):.1f} ms")
medbench.record("viewer_update_ms_median", viewer_update_ms_median);
ct_viewer.snapshot()

# %% [markdown]
# ## 7. MONAI transform pipelines and augmentation
#
# Training pipelines are MONAI *dictionary* transforms: each acts on `{"image", "label"}`
# together, so a flip or rotation moves the label with the image (labels are interpolated with
# `nearest`, never blended). `medbench.transforms` names the standard ones:

# %%
pd.DataFrame({name: pd.Series(T.describe_pipeline(T.get_pipeline(name)))
              for name in ("ct_3d_train", "ct_3d_eval", "mri_3d_train")}).fillna("")

# %% [markdown]
# Read each column top to bottom: the order in which a case is transformed. The CT training
# and evaluation pipelines share the deterministic steps (adding the channel axis, orientation to
# RAS, scaling a fixed HU range to [0, 1]); training then pads and takes label-balanced random
# crops and augmentations, evaluation pads the whole volume to a size the network can divide.
# The MRI pipeline replaces the fixed HU range by a per-scan z-score (`NormalizeIntensityd`),
# because MR intensities have no unit.

# %% [markdown]
# **Label-balanced crops.** The liver fills a few percent of a slice; random crops would mostly
# show no liver. `RandCropByPosNegLabeld` centres half of the crops on a foreground pixel:

# %%
k_liver = int(np.argmax((case["label"] == liver).sum(axis=(0, 1))))
slice_case = {"image": case["image"][:, :, k_liver], "label": (case["label"][:, :, k_liver] == liver).astype(np.uint8)}
crops = T.get_pipeline("ct_2d_train", spatial_size=crop_size, num_samples=8, seed=seed)(slice_case)
print(f"liver fraction: whole slice {slice_case['label'].mean():.1%}, "
      f"crops {np.mean([float(c['label'].float().mean()) for c in crops]):.1%}")
P.plot_crops(crops, title=f"8 training crops of {crop_size}x{crop_size} (soft-tissue window), liver outlined");

# %% [markdown]
# **Each augmentation alone**, applied to the same windowed slice `n_aug_draws` times. Spatial
# ones (flips, rotation, zoom) move image and label together; intensity ones (shift, scale,
# noise, gamma) change only the image. Note that a left–right flip puts the liver on the
# patient's left — harmless for "find the liver", wrong if laterality matters
# (`augmentation_steps(flip_axes=(1, 2))` drops it).

# %%
windowed = T.case_to_metatensors({"image": T.apply_window(slice_case["image"], "soft_tissue"),
                                  "label": slice_case["label"]})
P.plot_augmentation_preview(windowed, T.augmentation_steps(dim=2, prob=1.0), n_samples=n_aug_draws, seed=seed);

# %% [markdown]
# ## 8. Where the data comes from
#
# Every dataset medbench knows, with its source and licence; `available` says whether it loads
# on this machine now (MedMNIST and the Decathlon need a download the user makes; see the
# `detail` column). The same table prints with `medbench data list`.

# %%
catalog = datasets_table()
n_datasets_available = n_available()
medbench.record("n_datasets_available", n_datasets_available);
catalog[["name", "kind", "offline", "available", "source", "licence"]]

# %% [markdown]
# `offline` says whether a dataset can ship inside an installed package or simulator; `available`
# whether it loads on this machine now. Check the licence column before using a dataset for
# anything but teaching: several allow research use only.
#
# > **Common mistakes**
# > - Using stored DICOM values as HU: apply `RescaleSlope`/`RescaleIntercept` (air must read ≈ −1000).
# > - Treating the scanner's padding (−3024 or −2048 HU outside the reconstructed disc) as air
# >   or tissue: mask it before statistics or normalisation.
# > - `imshow(volume[:, :, k])` without orientation: the patient's left and right end up swapped
# >   or rotated. Reorient to RAS and display in the radiological convention.
# > - Ignoring voxel spacing: anatomy is squashed, volumes are wrong, and a network sees a
# >   different shape at each resolution. Resample (`Spacingd`) or at least display with the physical aspect.
# > - Comparing raw MR intensities across scans: normalise each scan first.
# > - Left–right flips as augmentation when laterality matters (left vs right lung lesions).

# %% [markdown]
# ## Summary
#
# - CT values are physical: air outside the head reads `ct_air_hu_median` ≈ −1000 HU, as the
#   Hounsfield scale demands; windows choose which HU range gets the grey levels.
# - MR values are not: normalise each scan (z-score or percentiles).
# - An image is an array **plus** an affine: orientation (RAS vs LPS) and spacing come from it,
#   and ignoring them flips patients and squashes anatomy.
# - `SliceViewer` updates a 512² slice in `viewer_update_ms_median` ms; MONAI dictionary
#   transforms keep image and label aligned through crops and augmentations.
# - `n_datasets_available` datasets load offline here; the table says where each comes from.
#
# ## References
#
# - Hounsfield scale (water 0 HU, air −1000 HU) and tissue values: G. N. Hounsfield, "Computerized
#   transverse axial scanning (tomography)", Br J Radiol 46 (1973) 1016–1022; Radiopaedia,
#   "Hounsfield unit".
# - Window presets (width/level of lung, mediastinum, bone, brain, liver, soft tissue):
#   Radiopaedia, "Windowing (CT)".
# - Rescale tags (0028,1052) Rescale Intercept, (0028,1053) Rescale Slope, and the modality LUT:
#   DICOM PS3.3, C.11.1 (Modality LUT Module); patient coordinate system (LPS) and Image
#   Position/Orientation (Patient): DICOM PS3.3, C.7.6.2 (Image Plane Module).
# - NIfTI-1 affine (qform/sform) and the RAS+ world frame: NIfTI-1 data format, nifti.nimh.nih.gov
#   (nifti1.h); nibabel documentation, "Coordinate systems and affines".
# - MNI152 template (ICBM 2009a nonlinear asymmetric, 1 mm) and its tissue maps: V. Fonov et al.,
#   NeuroImage 54 (2011) 313–327, and NeuroImage 47 (2009) S102, as shipped by nilearn
#   (`load_mni152_template`).
# - Head CT slice: CQ500 (S. Chilamkurthy et al., Lancet 392 (2018) 2388–2396), via `pydicom-data`;
#   Enhanced MR sample: pydicom's test files. Licences: the table of section 8.
# - MR intensity normalisation (z-score, percentile scaling): MONAI `NormalizeIntensityd`,
#   `ScaleIntensityRangePercentilesd` (docs.monai.io); L. G. Nyúl, J. K. Udupa, "On standardizing the
#   MR image intensity scale", Magn Reson Med 42 (1999) 1072–1081.
# - Dictionary transforms and label-balanced crops (`RandCropByPosNegLabeld`): MONAI documentation,
#   "Transforms".
# - Phantom HU values: textbook ranges as in Radiopaedia "Hounsfield unit"; the simulator is
#   `medbench.data.phantom` (its ground truth is known by construction).
#
# **Exercises** (nbgrader format): `notebooks/exercises/01_medical_images_exercises.ipynb`: 1. *Stored values to Hounsfield units, by hand* (compute); 2. *Which window shows a lesion best?* (investigate); 3. *Where is the patient's right in an LPS array?* (interpret).
