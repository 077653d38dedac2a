"""MONAI dictionary-transform presets: CT windows, MRI normalisation, geometry, augmentation.

Everything here returns MONAI dictionary transforms (the ``...d`` classes) or a
:class:`monai.transforms.Compose` of them, so a pipeline drops straight into
``monai.data.Dataset`` / ``CacheDataset``. The only NumPy helper is :func:`apply_window`,
which the :class:`~medbench.widgets.slice_viewer.SliceViewer` uses to render fast.

Conventions:
    * Dictionaries hold ``"image"`` and (optionally) ``"label"``; the keys are parameters.
    * Channel-first arrays: ``(C, X, Y)`` in 2D and ``(C, X, Y, Z)`` in 3D, axes in
      RAS order once :func:`reorient_resample` has run.
    * ``load`` picks how a pipeline starts: ``"file"`` (paths, ``LoadImaged`` with a channel
      added), ``"array"`` (arrays ``(X, Y[, Z])`` without a channel axis, e.g. a phantom's
      volume) or ``None`` (already channel-first, e.g. the output of
      :func:`case_to_metatensors`, which also carries the affine).

CT window presets (width W / level L in Hounsfield units) follow the values listed by
Radiopaedia, "Windowing (CT)" (https://radiopaedia.org/articles/windowing-ct, accessed 2024):
brain W80/L40, lungs W1500/L-600, mediastinum W350/L50, abdominal soft tissue W400/L50,
liver W150/L30, bone W1800/L400. The displayed range is ``[L - W/2, L + W/2]``.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from medbench.errors import ConfigError

WINDOW_SOURCE = "Radiopaedia, 'Windowing (CT)', https://radiopaedia.org/articles/windowing-ct"


@dataclass(frozen=True)
class CTWindow:
    """A CT display window: ``width`` and ``level`` (centre) in HU.

    Attributes:
        name: preset name, or ``"custom"``.
        width: window width W (HU), > 0.
        level: window level / centre L (HU).
    """

    name: str
    width: float
    level: float

    @property
    def lower(self) -> float:
        """Lowest HU shown (black): ``L - W/2``."""
        return self.level - self.width / 2.0

    @property
    def upper(self) -> float:
        """Highest HU shown (white): ``L + W/2``."""
        return self.level + self.width / 2.0

    def __str__(self) -> str:
        return f"{self.name} (W{self.width:g}/L{self.level:g})"


CT_WINDOWS: dict[str, CTWindow] = {
    "lung": CTWindow("lung", 1500.0, -600.0),
    "mediastinum": CTWindow("mediastinum", 350.0, 50.0),
    "bone": CTWindow("bone", 1800.0, 400.0),
    "brain": CTWindow("brain", 80.0, 40.0),
    "liver": CTWindow("liver", 150.0, 30.0),
    "soft_tissue": CTWindow("soft_tissue", 400.0, 50.0),
}
"""The CT window presets (source: :data:`WINDOW_SOURCE`)."""


def get_window(window: str | CTWindow | Sequence[float] | dict) -> CTWindow:
    """Resolve a window given as a preset name, ``(width, level)``, a dict or a :class:`CTWindow`.

    Args:
        window: ``"lung"``, ``"mediastinum"``, ``"bone"``, ``"brain"``, ``"liver"``,
            ``"soft_tissue"``; or ``(width, level)`` in HU; or ``{"width": W, "level": L}``.

    Raises:
        ConfigError: unknown preset name, or a width that is not a positive finite number.
    """
    if isinstance(window, CTWindow):
        win = window
    elif isinstance(window, str):
        key = window.strip().lower().replace(" ", "_").replace("-", "_")
        key = {"soft": "soft_tissue", "abdomen": "soft_tissue", "lungs": "lung"}.get(key, key)
        if key not in CT_WINDOWS:
            raise ConfigError(f"unknown CT window preset {window!r}; use one of {', '.join(CT_WINDOWS)} "
                              "or give (width, level) in HU")
        return CT_WINDOWS[key]
    elif isinstance(window, dict):
        try:
            win = CTWindow(str(window.get("name", "custom")), float(window["width"]), float(window["level"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"window dict needs numeric 'width' and 'level' keys, got {window!r}") from exc
    else:
        try:
            width, level = (float(v) for v in window)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"window must be a preset name, (width, level) or a CTWindow; got {window!r}") from exc
        win = CTWindow("custom", width, level)
    if not (math.isfinite(win.width) and win.width > 0 and math.isfinite(win.level)):
        raise ConfigError(f"window width must be a positive finite number and level finite; got {win}")
    return win


def apply_window(array, window, out_range: tuple[float, float] = (0.0, 1.0), dtype=np.float32) -> np.ndarray:
    """Map HU to display intensities: ``[L - W/2, L + W/2]`` -> ``out_range``, clipped outside.

    Args:
        array: HU values, any shape (NumPy array, torch tensor or MetaTensor).
        window: anything :func:`get_window` accepts.
        out_range: output for the window's lower and upper bound, e.g. ``(0, 255)``.
        dtype: output dtype; with ``np.uint8`` and ``out_range=(0, 255)`` the result is a
            ready-to-encode greyscale image.

    Returns:
        ``np.ndarray`` of the input's shape.
    """
    win = get_window(window)
    arr = np.asarray(array.detach().cpu().numpy() if hasattr(array, "detach") else array, dtype=np.float32)
    b0, b1 = float(out_range[0]), float(out_range[1])
    scale = (b1 - b0) / win.width
    out = (arr - np.float32(win.lower)) * np.float32(scale) + np.float32(b0)
    np.clip(out, min(b0, b1), max(b0, b1), out=out)
    return out.astype(dtype, copy=False)


# ---------------------------------------------------------------------------- intensity presets
def _keys(keys) -> tuple[str, ...]:
    return (keys,) if isinstance(keys, str) else tuple(keys)


def ct_window(keys="image", window="soft_tissue", out_range: tuple[float, float] = (0.0, 1.0), clip: bool = True):
    """``ScaleIntensityRanged`` that applies a CT window: HU in ``[L-W/2, L+W/2]`` -> ``out_range``.

    Args:
        keys: image key(s) (never the label).
        window: preset name, ``(width, level)`` or :class:`CTWindow`.
        out_range: the output range, ``(0, 1)`` by default.
        clip: clip values outside the window (the usual choice for networks).
    """
    win = get_window(window)
    return _monai().ScaleIntensityRanged(keys=_keys(keys), a_min=win.lower, a_max=win.upper,
                                         b_min=out_range[0], b_max=out_range[1], clip=clip)


def mri_zscore(keys="image", nonzero: bool = True, channel_wise: bool = True):
    """``NormalizeIntensityd``: subtract the mean and divide by the standard deviation.

    Args:
        keys: image key(s).
        nonzero: compute the statistics over non-zero voxels only (the brain, not the air
            around it, which is zero in skull-stripped or masked MRI); zeros stay zero.
        channel_wise: separate statistics per channel (e.g. T1 and T2 stacked).
    """
    return _monai().NormalizeIntensityd(keys=_keys(keys), nonzero=nonzero, channel_wise=channel_wise)


def mri_percentile(keys="image", lower: float = 0.5, upper: float = 99.5, out_range=(0.0, 1.0), clip: bool = True):
    """``ScaleIntensityRangePercentilesd``: the ``lower``..``upper`` percentiles -> ``out_range``.

    MRI intensities have no physical unit (unlike HU), so each scan is scaled by its own
    percentiles; using 0.5/99.5 rather than min/max ignores a few hot voxels (vessels,
    artefacts).
    """
    if not 0 <= lower < upper <= 100:
        raise ConfigError(f"percentiles need 0 <= lower < upper <= 100, got lower={lower}, upper={upper}")
    return _monai().ScaleIntensityRangePercentilesd(keys=_keys(keys), lower=lower, upper=upper,
                                                    b_min=out_range[0], b_max=out_range[1], clip=clip)


def intensity_preset(modality: str = "ct", keys="image", window="soft_tissue", mri_norm: str = "zscore"):
    """The intensity normalisation of a modality: a CT window, or MRI z-score / percentiles.

    Args:
        modality: ``"ct"`` or ``"mri"``.
        window: CT window (ignored for MRI).
        mri_norm: ``"zscore"`` or ``"percentile"`` (ignored for CT).
    """
    mod = modality.lower()
    if mod == "ct":
        return ct_window(keys, window)
    if mod == "mri":
        if mri_norm == "zscore":
            return mri_zscore(keys)
        if mri_norm == "percentile":
            return mri_percentile(keys)
        raise ConfigError(f"mri_norm must be 'zscore' or 'percentile', got {mri_norm!r}")
    raise ConfigError(f"modality must be 'ct' or 'mri', got {modality!r}")


def _is_window_list(window) -> bool:
    """True for several windows (``["soft_tissue", "lung"]``), False for one (a name, ``(W, L)``, dict)."""
    return isinstance(window, (list, tuple)) and len(window) > 0 and not all(
        isinstance(w, (int, float)) for w in window)


#: The CT windows medbench stacks as a volume network's input channels (chapter 03, bundles).
CT_CHANNELS = ("soft_tissue", "lung")


def in_channels_for(modality: str, windows: Sequence = CT_CHANNELS) -> int:
    """Network input channels: one per CT window, 1 for MRI."""
    return len(windows) if modality == "ct" else 1


def ct_window_channels(key: str = "image", windows: Sequence = CT_CHANNELS) -> list:
    """One CT as several input channels, one per window: ``(1, ...)`` HU -> ``(len(windows), ...)``.

    One window cannot show everything: soft tissue (W400/L50) turns the lungs into black air,
    the lung window (W1500/L-600) flattens liver, spleen and kidneys into one grey. A network
    given both channels sees both.

    Returns:
        A list of MONAI transforms (``CopyItemsd``, ``ScaleIntensityRanged`` per window,
        ``ConcatItemsd``, ``DeleteItemsd``) to splice into a pipeline.
    """
    T = _monai()
    windows = list(windows)
    if len(windows) == 1:
        return [ct_window(key, windows[0])]
    copies = [f"{key}_window{i}" for i in range(1, len(windows))]
    steps: list = [T.CopyItemsd(keys=key, names=copies, times=len(copies))]
    steps += [ct_window(k, w) for k, w in zip([key] + copies, windows)]
    steps += [T.ConcatItemsd(keys=[key] + copies, name=key, dim=0), T.DeleteItemsd(keys=copies)]
    return steps


def _intensity_steps(modality: str, key: str, window, mri_norm: str) -> list:
    """:func:`intensity_preset` as a flat list; several CT windows become channels."""
    if modality.lower() == "ct" and _is_window_list(window):
        return ct_window_channels(key, window)
    return [intensity_preset(modality, key, window, mri_norm)]


# ---------------------------------------------------------------------------- geometry
def reorient_resample(keys=("image", "label"), pixdim: Sequence[float] | float | None = None, axcodes: str = "RAS",
                      modes: Sequence[str] | None = None):
    """``Orientationd`` to ``axcodes`` then, if ``pixdim`` is given, ``Spacingd`` to that spacing.

    Scanners store voxels in whatever order they acquired them (DICOM's patient frame is
    LPS; many NIfTI files are LAS or RAS). Reorienting every image to RAS (x to the patient's
    Right, y Anterior, z Superior) and resampling to one spacing gives a network inputs in
    which one voxel step means the same direction and the same millimetres.

    Args:
        keys: keys to transform (image and label together, so they stay aligned).
        pixdim: target spacing in mm per spatial axis (or one number for all).
        axcodes: target orientation; ``"RAS"`` in 3D. For 2D data use ``"RA"``.
        modes: interpolation per key; default ``bilinear`` for the first key and
            ``nearest`` for the others (labels must never be interpolated).

    Returns:
        ``monai.transforms.Compose``.
    """
    T = _monai()
    keys = _keys(keys)
    if modes is None:
        modes = ("bilinear",) + ("nearest",) * (len(keys) - 1)
    if len(modes) != len(keys):
        raise ConfigError(f"modes {tuple(modes)} must give one interpolation mode per key {keys}")
    steps = [T.Orientationd(keys=keys, axcodes=axcodes, labels=(("L", "R"), ("P", "A"), ("I", "S")),
                            allow_missing_keys=True)]
    if pixdim is not None:
        steps.append(T.Spacingd(keys=keys, pixdim=pixdim, mode=tuple(modes), allow_missing_keys=True))
    return T.Compose(steps)


def case_to_metatensors(case: dict, keys=("image", "label"), channel_first: bool = True) -> dict:
    """Wrap a case dict's NumPy volumes (phantom, reader output) as MONAI MetaTensors with its affine.

    Args:
        case: dict with the ``keys`` (arrays ``(X, Y[, Z])``) and ``"affine"`` (4x4) or
            ``"spacing"``; missing keys are skipped.
        keys: which entries to wrap.
        channel_first: add a leading channel axis ``(1, X, Y[, Z])`` (what every MONAI
            dictionary pipeline with ``load=None`` expects).

    The arrays are copied, so in-place MONAI transforms never change ``case``.

    Returns:
        A new dict: the wrapped keys plus the other entries unchanged.
    """
    import torch
    from monai.data import MetaTensor

    affine = case.get("affine")
    if affine is None:
        spacing = case.get("spacing")
        if spacing is None:
            affine = np.eye(4)
        else:
            affine = np.diag(list(map(float, spacing))[:3] + [1.0] * (4 - min(3, len(spacing))))
    out = dict(case)
    for key in _keys(keys):
        if key not in case or case[key] is None:
            continue
        arr = np.asarray(case[key])
        # a copy: some MONAI transforms work in place and must not change the caller's arrays
        t = torch.tensor(arr if arr.dtype != np.uint16 else arr.astype(np.int32))
        if channel_first:
            t = t[None]
        out[key] = MetaTensor(t, affine=torch.as_tensor(np.asarray(affine, dtype=np.float64)))
    return out


# ---------------------------------------------------------------------------- display geometry
PLANES = ("axial", "coronal", "sagittal")
NORMAL_AXIS = {"axial": 2, "coronal": 1, "sagittal": 0}
"""Array axis (of an ``(X, Y, Z)`` RAS volume) normal to each plane."""


def to_ras(arrays: Sequence[np.ndarray | None], affine, spacing: Sequence[float] | None = None):
    """Reorient 3D arrays to RAS with the affine's closest axis order (nibabel ``io_orientation``).

    Only permutes and flips axes (no interpolation), like ``nibabel.as_closest_canonical``.

    Args:
        arrays: ``(X, Y, Z)`` arrays sharing ``affine`` (``None`` entries pass through).
        affine: 4x4 voxel -> RAS mm matrix.
        spacing: mm per input axis; default: the lengths of the affine's columns.

    Returns:
        ``(arrays, spacing, axcodes)``: the reoriented arrays (contiguous), the spacing of
        their axes, and the input's axis codes (e.g. ``"LPS"``).
    """
    import nibabel as nib
    from nibabel.orientations import apply_orientation, io_orientation

    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4) or not np.isfinite(affine).all():
        raise ConfigError(f"affine must be a finite 4x4 matrix, got shape {affine.shape}")
    if spacing is None:
        spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    codes = "".join(c or "?" for c in nib.aff2axcodes(affine))
    ornt = io_orientation(affine)
    out = [None if a is None else np.ascontiguousarray(apply_orientation(a, ornt)) for a in arrays]
    new_spacing = tuple(float(spacing[int(i)]) for i in np.argsort(ornt[:, 0]))
    return out, new_spacing, codes


def reorient(arrays: Sequence[np.ndarray | None], affine, axcodes: str = "RAS"):
    """Permute/flip 3D arrays into the axis order ``axcodes`` (e.g. ``"LPS"``, DICOM's), with the new affine.

    The world coordinates of every voxel are unchanged: only the storage order changes, so
    ``to_ras`` of the result gives back the RAS arrays.

    Returns:
        ``(arrays, affine)``.
    """
    from nibabel.orientations import apply_orientation, axcodes2ornt, inv_ornt_aff, io_orientation, ornt_transform

    affine = np.asarray(affine, dtype=np.float64)
    if len(axcodes) != 3 or set(axcodes.upper()) - set("RLAPSI"):
        raise ConfigError(f"axcodes must be 3 letters from R/L, A/P, S/I such as 'RAS' or 'LPS', got {axcodes!r}")
    ornt = ornt_transform(io_orientation(affine), axcodes2ornt(axcodes.upper()))
    first = next(a for a in arrays if a is not None)
    new_affine = affine @ inv_ornt_aff(ornt, np.shape(first)[:3])
    out = [None if a is None else np.ascontiguousarray(apply_orientation(a, ornt)) for a in arrays]
    return out, new_affine


def display_view(volume: np.ndarray, plane: str, index: int) -> np.ndarray:
    """One slice of an ``(X, Y, Z)`` RAS volume, oriented as radiologists display it.

    Axial: rows run anterior (top) to posterior, columns patient right (screen left) to
    left. Coronal: rows superior to inferior, columns right to left. Sagittal: rows
    superior to inferior, columns anterior (screen left) to posterior.

    Returns:
        A ``(rows, cols)`` view (no copy) of the slice.
    """
    if plane == "axial":
        return volume[::-1, ::-1, index].T
    if plane == "coronal":
        return volume[::-1, index, ::-1].T
    if plane == "sagittal":
        return volume[index, ::-1, ::-1].T
    raise ConfigError(f"plane must be one of {PLANES}, got {plane!r}")


def view_spacing(spacing: Sequence[float], plane: str) -> tuple[float, float]:
    """``(row mm, column mm)`` of :func:`display_view`'s slice for a volume with ``spacing``."""
    sx, sy, sz = (float(s) for s in spacing[:3])
    return {"axial": (sy, sx), "coronal": (sz, sx), "sagittal": (sz, sy)}[plane]


def body_mask(hu: np.ndarray, threshold: float = -500.0, padding_mask: np.ndarray | None = None) -> np.ndarray:
    """The patient's body on a CT image: voxels above ``threshold`` HU, largest component, holes filled.

    Air inside the body (lungs, sinuses, bowel gas) lies in filled holes, so
    ``~body_mask(hu) & ~padding`` is the air *outside* the patient (about -1000 HU).

    Args:
        hu: 2D or 3D image in HU.
        threshold: HU separating air (-1000) from tissue; fat (-100) and skin are above -500.
        padding_mask: voxels outside the reconstruction field (PixelPaddingValue), excluded.

    Returns:
        bool array like ``hu``.
    """
    from scipy import ndimage

    tissue = np.asarray(hu) > threshold
    if padding_mask is not None:
        tissue &= ~np.asarray(padding_mask, dtype=bool)
    lab, n = ndimage.label(tissue)
    if n == 0:
        return tissue
    sizes = np.bincount(lab.reshape(-1))
    sizes[0] = 0
    body = lab == int(np.argmax(sizes))
    if body.ndim == 3:  # fill slice by slice (axial) and in 3D: the lungs open to the trachea
        body = np.stack([ndimage.binary_fill_holes(body[:, :, k]) for k in range(body.shape[2])], axis=2)
    return ndimage.binary_fill_holes(body)


# ---------------------------------------------------------------------------- augmentation
def augmentation_steps(dim: int = 3, keys=("image", "label"), image_key: str = "image", prob: float = 0.5,
                       flip_axes: Sequence[int] | None = None, rotate_deg: float = 15.0,
                       zoom: tuple[float, float] = (0.9, 1.15), shift: float = 0.1, scale: float = 0.1,
                       noise_std: float = 0.03, gamma: tuple[float, float] = (0.7, 1.5)) -> "OrderedDict[str, object]":
    """The named random augmentations of the train pipelines, in the order they run.

    Spatial ones act on every key (``nearest`` interpolation for labels); intensity ones
    only on ``image_key``. Intensity magnitudes assume an image already normalised (a CT
    window to [0, 1] or an MRI z-score).

    Args:
        dim: 2 or 3 spatial dimensions.
        prob: probability of each augmentation per sample (1.0 forces it, for previews).
        flip_axes: spatial axes to flip (each independently); ``None`` = all. Note that a
            left-right flip (axis 0 in RAS) makes a "left lung" label lie on the right: drop
            axis 0 when laterality is part of the task.
        rotate_deg: maximal rotation in degrees (in-plane in 2D; about z, and a third of it
            about x and y, in 3D).
        zoom: min and max isotropic zoom factor.
        shift: intensity offsets drawn from ``[-shift, shift]``.
        scale: intensity factors ``1 + U[-scale, scale]``.
        noise_std: Gaussian noise standard deviation (drawn in ``[0, noise_std]``).
        gamma: range of the gamma (contrast) exponent.

    Returns:
        ``OrderedDict`` name -> MONAI transform.
    """
    T = _monai()
    _check_dim(dim)
    keys = _keys(keys)
    if not 0.0 <= prob <= 1.0:
        raise ConfigError(f"prob must lie in [0, 1], got {prob}")
    spatial_modes = tuple("bilinear" if k == image_key else "nearest" for k in keys)
    zoom_modes = tuple(("bilinear" if dim == 2 else "trilinear") if k == image_key else "nearest" for k in keys)
    rad = math.radians(rotate_deg)
    axes = tuple(range(dim)) if flip_axes is None else tuple(flip_axes)
    steps: OrderedDict[str, object] = OrderedDict()
    for ax in axes:
        if not 0 <= ax < dim:
            raise ConfigError(f"flip axis {ax} does not exist in {dim}D data")
        steps[f"flip_{'xyz'[ax]}"] = T.RandFlipd(keys=keys, prob=prob, spatial_axis=ax, allow_missing_keys=True)
    if dim == 2:
        steps["rotate"] = T.RandRotated(keys=keys, range_x=rad, prob=prob, mode=spatial_modes,
                                        padding_mode="border", allow_missing_keys=True)
    else:
        steps["rotate"] = T.RandRotated(keys=keys, range_x=rad / 3, range_y=rad / 3, range_z=rad, prob=prob,
                                        mode=spatial_modes, padding_mode="border", allow_missing_keys=True)
    steps["zoom"] = T.RandZoomd(keys=keys, prob=prob, min_zoom=zoom[0], max_zoom=zoom[1], mode=zoom_modes,
                                padding_mode="edge", allow_missing_keys=True)
    steps["intensity_shift"] = T.RandShiftIntensityd(keys=image_key, offsets=shift, prob=prob)
    steps["intensity_scale"] = T.RandScaleIntensityd(keys=image_key, factors=scale, prob=prob)
    steps["noise"] = T.RandGaussianNoised(keys=image_key, prob=prob, std=noise_std)
    steps["gamma"] = T.RandAdjustContrastd(keys=image_key, prob=prob, gamma=gamma)
    return steps


def _body(x):
    """CT voxels denser than -500 HU: the body (the air around it is cropped away)."""
    return x > -500


def _nonzero(x):
    return x > 0


def _deterministic_steps(dim, keys, load, pixdim, modality, window, mri_norm, crop_foreground, cast) -> list:
    """The cacheable head shared by :func:`train_pipeline` and :func:`eval_pipeline`."""
    T = _monai()
    steps = _start(load, keys)
    # spliced, not nested: a nested Compose would take a draw of the seed sequence
    steps.extend(reorient_resample(keys, pixdim, axcodes="RAS"[:dim]).transforms)
    if crop_foreground:
        steps.append(T.CropForegroundd(keys=keys, source_key=keys[0], margin=2, allow_smaller=True,
                                       select_fn=_body if modality.lower() == "ct" else _nonzero,
                                       allow_missing_keys=True))
    steps.extend(_intensity_steps(modality, keys[0], window, mri_norm))
    if cast:
        import torch

        steps.append(T.EnsureTyped(keys=keys[0], dtype=torch.float32))
        steps += [T.EnsureTyped(keys=keys[1:], dtype=torch.uint8, allow_missing_keys=True)] if len(keys) > 1 else []
    return steps


def _start(load, keys):
    T = _monai()
    if load == "file":
        return [T.LoadImaged(keys=keys, ensure_channel_first=True, image_only=True, allow_missing_keys=True)]
    if load == "array":
        # Not EnsureChannelFirstd: a MetaTensor made from a 2D array before its channel is
        # added believes it has 1 spatial dimension (MONAI 1.6), which breaks RandZoomd.
        return [T.Lambdad(keys=keys, func=_add_channel, allow_missing_keys=True)]
    if load is None:
        return []
    raise ConfigError(f"load must be 'file', 'array' or None, got {load!r}")


def _add_channel(x):
    """``(X, Y[, Z])`` array / tensor / MetaTensor -> ``(1, X, Y[, Z])`` MetaTensor (affine kept)."""
    import torch
    from monai.data import MetaTensor

    affine = getattr(x, "affine", None)
    src = x.as_tensor() if isinstance(x, MetaTensor) else x
    # a copy: some MONAI transforms (NormalizeIntensityd ...) work in place on shared memory
    t = src.clone() if isinstance(src, torch.Tensor) else torch.tensor(np.asarray(src))
    return MetaTensor(t[None], affine=affine if affine is not None else torch.eye(4, dtype=torch.float64))


def _check_dim(dim):
    if dim not in (2, 3):
        raise ConfigError(f"dim must be 2 or 3 (spatial dimensions), got {dim!r}")


def _size(spatial_size, dim):
    if spatial_size is None:
        spatial_size = 96 if dim == 2 else 64
    if isinstance(spatial_size, int):
        spatial_size = (spatial_size,) * dim
    spatial_size = tuple(int(s) for s in spatial_size)
    if len(spatial_size) != dim or min(spatial_size) < 1:
        raise ConfigError(f"spatial_size must have {dim} positive entries for {dim}D data, got {spatial_size}")
    return spatial_size


def train_pipeline(dim: int = 3, *, modality: str = "ct", window="soft_tissue", mri_norm: str = "zscore",
                   spatial_size: int | Sequence[int] | None = None, pixdim: Sequence[float] | float | None = None,
                   num_samples: int = 2, crop: str = "posneg", pos: float = 1.0, neg: float = 1.0,
                   num_classes: int | None = None, keys=("image", "label"), load: str | None = "array",
                   crop_foreground: bool = False, cast: bool = False, augmentations: Sequence[str] | None = None,
                   prob: float = 0.5, seed: int | None = None, **aug):
    """Training pipeline: load -> (RAS, spacing) -> intensity -> pad -> label-balanced crops -> augment.

    ``crop="posneg"``: ``RandCropByPosNegLabeld`` centres each crop on a foreground voxel with
    probability ``pos / (pos + neg)``, so small organs and lesions are seen often even when they
    fill 1 % of the volume. ``crop="classes"``: ``RandCropByLabelClassesd`` with equal ratios, so
    each crop is centred on a voxel of a uniformly chosen class (a 500-voxel spleen is seen as
    often as a 20,000-voxel liver). Each input dict yields a list of ``num_samples`` crops.

    Args:
        dim: 2 (slices ``(X, Y)``) or 3 (volumes ``(X, Y, Z)``).
        modality: ``"ct"`` (window) or ``"mri"`` (``mri_norm``).
        window: CT window preset or ``(width, level)``; a list of windows
            (``["soft_tissue", "lung"]``) gives one input channel per window.
        mri_norm: ``"zscore"`` or ``"percentile"``.
        spatial_size: crop size (default 96² in 2D, 64³ in 3D).
        pixdim: resample to this spacing in mm (after reorienting to RAS); ``None`` keeps it.
        num_samples: crops per input.
        crop: ``"posneg"`` or ``"classes"``.
        pos, neg: foreground / background crop-centre ratio (``crop="posneg"``).
        num_classes: classes including background (``crop="classes"``).
        keys: (image key, label key).
        load: ``"file"``, ``"array"`` or ``None`` (see module docstring).
        crop_foreground: crop the air around the body, found on the image (CT > -500 HU,
            MRI > 0), never on the label (evaluation must not see the truth).
        cast: image to float32 and label to uint8 after the intensity step (compact caches).
        augmentations: names of :func:`augmentation_steps` to apply, in its order (``None``: all).
        prob: probability of each random augmentation.
        seed: seed the pipeline's random state (reproducible crops and augmentations).
        **aug: passed to :func:`augmentation_steps` (``flip_axes``, ``rotate_deg``, ``shift`` ...).

    Returns:
        ``monai.transforms.Compose``; outputs are channel-first tensors
        ``(1, *spatial_size)`` for each key.
    """
    T = _monai()
    _check_dim(dim)
    keys = _keys(keys)
    if len(keys) < 2:
        raise ConfigError(f"train_pipeline needs an image key and a label key, got keys={keys}")
    image_key, label_key = keys[0], keys[1]
    size = _size(spatial_size, dim)
    if num_samples < 1:
        raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
    steps = _deterministic_steps(dim, keys, load, pixdim, modality, window, mri_norm, crop_foreground, cast)
    steps.append(T.SpatialPadd(keys=keys, spatial_size=size, mode="constant"))
    if crop == "posneg":
        steps.append(T.RandCropByPosNegLabeld(keys=keys, label_key=label_key, spatial_size=size, pos=pos, neg=neg,
                                              num_samples=num_samples))
    elif crop == "classes":
        if not num_classes or num_classes < 2:
            raise ConfigError(f"crop='classes' needs num_classes >= 2 (with background), got {num_classes!r}")
        steps.append(T.RandCropByLabelClassesd(keys=keys, label_key=label_key, spatial_size=size,
                                               num_classes=num_classes, ratios=[1.0] * num_classes,
                                               num_samples=num_samples, warn=False))
    else:
        raise ConfigError(f"crop must be 'posneg' or 'classes', got {crop!r}")
    available = augmentation_steps(dim, keys, image_key, prob=prob, **aug)
    chosen = list(available) if augmentations is None else list(augmentations)
    unknown = [a for a in chosen if a not in available]
    if unknown:
        raise ConfigError(f"unknown augmentation(s) {unknown}; choose from {list(available)}")
    steps.extend(t for name, t in available.items() if name in chosen)
    steps.append(T.EnsureTyped(keys=keys, track_meta=False))
    pipe = T.Compose(steps)
    if seed is not None:
        pipe.set_random_state(seed=seed)
    return pipe


def eval_pipeline(dim: int = 3, *, modality: str = "ct", window="soft_tissue", mri_norm: str = "zscore",
                  pixdim: Sequence[float] | float | None = None, keys=("image", "label"), load: str | None = "array",
                  crop_foreground: bool = False, cast: bool = False, divisible_by: int | None = 16):
    """Evaluation pipeline: the deterministic part of :func:`train_pipeline`, whole images, no crops.

    Args:
        dim, modality, window, mri_norm, pixdim, keys, load, crop_foreground, cast: as in
            :func:`train_pipeline` (the label key may be absent from the data).
        divisible_by: pad every spatial size to a multiple of this (U-Net inputs); ``None``
            to skip (sliding-window inference handles any size).

    Returns:
        ``monai.transforms.Compose``.
    """
    T = _monai()
    _check_dim(dim)
    keys = _keys(keys)
    steps = _deterministic_steps(dim, keys, load, pixdim, modality, window, mri_norm, crop_foreground, cast)
    if divisible_by:
        steps.append(T.DivisiblePadd(keys=keys, k=divisible_by, allow_missing_keys=True))
    steps.append(T.EnsureTyped(keys=keys, allow_missing_keys=True))
    return T.Compose(steps)


def _preset(factory: Callable, **fixed) -> Callable:
    def make(**overrides):
        return factory(**{**fixed, **overrides})

    make.__doc__ = f"{factory.__name__}({', '.join(f'{k}={v!r}' for k, v in fixed.items())}, **overrides)"
    return make


PIPELINES: dict[str, Callable] = {
    "ct_2d_train": _preset(train_pipeline, dim=2, modality="ct"),
    "ct_2d_eval": _preset(eval_pipeline, dim=2, modality="ct"),
    "ct_3d_train": _preset(train_pipeline, dim=3, modality="ct"),
    "ct_3d_eval": _preset(eval_pipeline, dim=3, modality="ct"),
    "mri_2d_train": _preset(train_pipeline, dim=2, modality="mri"),
    "mri_2d_eval": _preset(eval_pipeline, dim=2, modality="mri"),
    "mri_3d_train": _preset(train_pipeline, dim=3, modality="mri"),
    "mri_3d_eval": _preset(eval_pipeline, dim=3, modality="mri"),
}
"""Named pipelines: ``PIPELINES[name](**overrides)`` builds one (see :func:`get_pipeline`)."""


# ---------------------------------------------------------------------------- 2D patch classification
# Presets for classifying small in-memory 2D images (chapter 02: CT nodule patches, MedMNIST):
# items are ``{"image": (C, H, W) array, "label": class}``, already channel-first, no affine.
HU_PATCH_RANGE = (-1000.0, 400.0)
"""Lung + soft-tissue intensity range of the CT patch presets (HU): air -> 0, dense soft tissue -> 1."""
UINT8_RANGE = (0.0, 255.0)
"""Intensity range of 8-bit images (MedMNIST): pass as ``intensity_range`` to the patch presets."""


def patch_preprocessing(intensity_range: Sequence[float] = HU_PATCH_RANGE, keys="image") -> list:
    """The deterministic (cacheable) steps of the patch presets, as a list.

    ``EnsureTyped`` (float32 tensors without metadata) and ``ScaleIntensityRanged``
    (``intensity_range`` -> [0, 1], clipped).
    """
    import torch

    T = _monai()
    lo, hi = (float(v) for v in intensity_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ConfigError(f"intensity_range must be (low, high) with low < high, got {tuple(intensity_range)}")
    return [T.EnsureTyped(keys=_keys(keys), dtype=torch.float32, track_meta=False),
            T.ScaleIntensityRanged(keys=_keys(keys), a_min=lo, a_max=hi, b_min=0.0, b_max=1.0, clip=True)]


def patch_augmentation_steps(keys="image", flip_prob: float = 0.5, rot90_prob: float = 0.5,
                             noise_prob: float = 0.3, noise_std: float = 0.02) -> "OrderedDict[str, object]":
    """The random steps of :func:`patch_train_pipeline`: label-preserving and cheap per 2D patch.

    Flips on both axes, 90-degree rotations and Gaussian noise (on the [0, 1] scale). A
    ``RandAffined`` small rotation/zoom costs ~30x more per 32 px patch and did not improve
    AUROC on chapter 02's nodules.

    Returns:
        ``OrderedDict`` name -> MONAI transform (``flip_x``, ``flip_y``, ``rot90``, ``noise``).
    """
    T = _monai()
    for name, p in (("flip_prob", flip_prob), ("rot90_prob", rot90_prob), ("noise_prob", noise_prob)):
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"{name} must lie in [0, 1], got {p}")
    keys = _keys(keys)
    return OrderedDict([
        ("flip_x", T.RandFlipd(keys=keys, prob=flip_prob, spatial_axis=0)),
        ("flip_y", T.RandFlipd(keys=keys, prob=flip_prob, spatial_axis=1)),
        ("rot90", T.RandRotate90d(keys=keys, prob=rot90_prob, max_k=3)),
        ("noise", T.RandGaussianNoised(keys=keys, prob=noise_prob, std=noise_std)),
    ])


def patch_train_pipeline(intensity_range: Sequence[float] = HU_PATCH_RANGE, *, keys="image",
                         seed: int | None = None, **aug):
    """Training pipeline for 2D patches ``(C, H, W)``: :func:`patch_preprocessing` then
    :func:`patch_augmentation_steps`, in one flat ``Compose``.

    ``monai.data.CacheDataset`` caches the output of the deterministic head and runs the
    random steps on every access.

    Args:
        intensity_range: input range mapped to [0, 1] (HU for CT, :data:`UINT8_RANGE` for MedMNIST).
        keys: image key(s) (never the class label).
        seed: seed the random steps (``Compose.set_random_state``); ``None`` leaves them unseeded.
        **aug: passed to :func:`patch_augmentation_steps` (``flip_prob``, ``noise_std`` ...).

    Returns:
        ``monai.transforms.Compose``.
    """
    pipe = _monai().Compose(patch_preprocessing(intensity_range, keys)
                            + list(patch_augmentation_steps(keys, **aug).values()))
    if seed is not None:
        pipe.set_random_state(seed=seed)
    return pipe


def patch_eval_pipeline(intensity_range: Sequence[float] = HU_PATCH_RANGE, *, keys="image"):
    """Evaluation pipeline for 2D patches: :func:`patch_preprocessing` only (a ``Compose``)."""
    return _monai().Compose(patch_preprocessing(intensity_range, keys))


PIPELINES.update({
    "ct_2d_patch_train": _preset(patch_train_pipeline, intensity_range=HU_PATCH_RANGE),
    "ct_2d_patch_eval": _preset(patch_eval_pipeline, intensity_range=HU_PATCH_RANGE),
})
# ---------------------------------------------------------------------------- end of 2D patch classification


def get_pipeline(name: str, **overrides):
    """Build a named pipeline, e.g. ``get_pipeline("ct_3d_train", window="liver", spatial_size=48)``.

    Raises:
        ConfigError: unknown name (the message lists the known ones).
    """
    if name not in PIPELINES:
        raise ConfigError(f"unknown pipeline {name!r}; use one of {', '.join(PIPELINES)}")
    return PIPELINES[name](**overrides)


def labels_from_logits(logits, n_classes: int, keep_largest: bool = True):
    """Logits ``(C, X, Y, Z)`` -> label map ``(1, X, Y, Z)`` uint8: argmax, then per class the largest component.

    ``KeepLargestConnectedComponent(independent=True)`` removes every island of a structure
    but its biggest, a cheap way to delete false positives far from the organ (an organ is
    one connected piece; for structures that are not, pass ``keep_largest=False``).
    """
    import torch

    T = _monai()
    pred = T.AsDiscrete(argmax=True)(logits)
    if keep_largest and n_classes > 1:
        pred = T.KeepLargestConnectedComponent(applied_labels=list(range(1, n_classes)), is_onehot=False,
                                               independent=True, connectivity=1)(pred)
    return torch.as_tensor(pred).to(torch.uint8)


def describe_pipeline(pipeline) -> list[str]:
    """The transform class names of a (nested) ``Compose``, in order, for tables and tests."""
    names: list[str] = []
    for t in getattr(pipeline, "transforms", [pipeline]):
        if hasattr(t, "transforms"):
            names.extend(describe_pipeline(t))
        else:
            names.append(type(t).__name__)
    return names


def _monai():
    import monai.transforms as T

    return T


__all__ = [
    "CT_CHANNELS", "CT_WINDOWS", "CTWindow", "HU_PATCH_RANGE", "NORMAL_AXIS", "PIPELINES", "PLANES", "WINDOW_SOURCE", "apply_window",
    "augmentation_steps", "body_mask", "case_to_metatensors", "ct_window", "ct_window_channels", "describe_pipeline", "display_view",
    "eval_pipeline", "get_pipeline", "get_window", "in_channels_for", "intensity_preset", "labels_from_logits", "mri_percentile", "mri_zscore",
    "reorient", "reorient_resample", "to_ras", "train_pipeline", "view_spacing",
    "UINT8_RANGE", "patch_augmentation_steps", "patch_eval_pipeline", "patch_preprocessing",
    "patch_train_pipeline",
]
