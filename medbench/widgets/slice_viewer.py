"""SliceViewer: browse a CT/MRI volume slice by slice, with windowing and label overlays.

Rendering goes NumPy -> uint8 (window) -> RGB (Pillow's C compositing for the label
overlay) -> PNG (:func:`encode_png`, a minimal encoder: "Up" row filter + zlib level 1)
straight into an ``ipywidgets.Image``: no matplotlib figure is drawn on slider moves, so an
update of a 512 x 512 slice takes milliseconds (``benchmarks/viewer_latency.py`` measures it against a
matplotlib-redraw viewer).

Geometry. 3D volumes are indexed ``(X, Y, Z)``. When an affine is known (argument, a
MONAI ``MetaTensor`` or a reader/phantom dict) the volume is first reoriented to RAS
(+X patient right, +Y anterior, +Z superior), so every image shows in radiological
convention: axial and coronal views put the patient's right on the screen's left,
anterior up (axial) and superior up (coronal, sagittal); sagittal views put anterior on
the left. Without an affine the array is assumed to be RAS already. Each view is drawn
with its physical aspect: pixels are resampled to square millimetres from the spacing.

2D images: ``layout="xy"`` (default) for ``(X, Y)`` = (columns, rows) as the DICOM reader
returns them (with an affine, rows/columns are flipped if needed so that the patient's
right is on the screen's left and anterior/superior up); ``layout="ras"`` for an axial
slice ``volume[:, :, k]`` of a RAS volume (phantom, MONAI pipeline output); or
``layout="rc"`` for a picture in
``(rows, columns)`` order (e.g. MedMNIST, matplotlib's ``imshow``).

The display convention (orientation, aspect, windowing with
:func:`medbench.transforms.apply_window`) and the label palette are those of
:mod:`medbench.plots.display`, which every static slice figure in :mod:`medbench.plots` uses
too. Input normalisation (paths, reader dicts, MetaTensors, arrays -> one :class:`Volume`)
is the pure function :func:`as_volume`. Modalities are ``"ct"`` and ``"mri"``.

Everything the controls do is plain Python, so tests and notebooks drive it::

    v = SliceViewer(case["image"], case["label"], spacing=case["spacing"])
    v.plane = "coronal"; v.slice = 40; v.window = "lung"; v.window = (400, 50); v.opacity = 0.6
    v.to_png()          # bytes of what is shown; v.frame is the RGB array
"""
from __future__ import annotations

import base64
import contextlib
import html
import os
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import ipywidgets as W
import numpy as np

from medbench.errors import ConfigError, DataError
from medbench.plots.display import (
    LAYOUTS_2D,
    PALETTE,
    label_lut,
    slice_spacing,
    slice_view,
    to_hex,
)
from medbench.transforms import (
    CT_WINDOWS,
    PLANES,
    CTWindow,
    apply_window,
    get_window,
    to_ras,
)
from medbench.transforms import NORMAL_AXIS as _NORMAL_AXIS

_PNG_COMPRESS_LEVEL = 1  # zlib's fastest level: slider updates matter more than bytes
_MIN_RENDER = 256  # upsample small images to at least this many pixels on the long side
_MAX_RENDER = 1024


# ------------------------------------------------------------------------------- inputs
MODALITIES = ("ct", "mri")
"""medbench's modality vocabulary (also :func:`medbench.transforms.intensity_preset`'s)."""


@dataclass
class Volume:
    """What the SliceViewer shows, whatever it was given: see :func:`as_volume`.

    Attributes:
        image: ``(X, Y, Z)`` in RAS order (reoriented when an affine was known), or a 2D
            image ``(X, Y)``/``(rows, cols)`` as given (see ``layout``); numbers, all finite.
        label: ``uint8`` label ids of ``image``'s shape, or ``None``.
        prediction: a second ``uint8`` label map (e.g. a model's output), or ``None``.
        spacing: mm per axis of ``image`` (after reorientation).
        affine: the input's 4x4 voxel-to-RAS-mm matrix, or ``None`` when none was given.
        orientation_in: the input's axis codes (``"LPS"``), or ``"RAS (assumed)"``.
        modality: ``"ct"`` (values in HU) or ``"mri"`` (any other intensity).
        layout: axis order of 2D input (``"xy"``, ``"ras"``, ``"rc"``; see
            :func:`medbench.plots.display.view_2d`).
        flips: ``(rows, cols)`` flips of a 2D ``"xy"`` image from its affine.
    """

    image: np.ndarray
    label: np.ndarray | None = None
    prediction: np.ndarray | None = None
    spacing: tuple[float, ...] = (1.0, 1.0, 1.0)
    affine: np.ndarray | None = None
    orientation_in: str = "RAS (assumed)"
    modality: str = "ct"
    layout: str = "xy"
    flips: tuple[bool, bool] = (False, False)

    @property
    def ndim(self) -> int:
        """2 or 3."""
        return int(self.image.ndim)

    @property
    def is2d(self) -> bool:
        """True for a 2D image."""
        return self.image.ndim == 2


def _read_path(path: Path) -> Any:
    """A file path -> whatever medbench's readers return (dict or MetaTensor)."""
    if not path.exists():
        raise DataError(f"SliceViewer: {path} does not exist; pass an array, a MetaTensor, a NIfTI file or a "
                        "DICOM file/series folder")
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz", ".img", ".hdr", ".mgz")):
        from medbench.data.nifti import read_nifti

        return read_nifti(path)
    if path.is_dir() or name.endswith((".dcm", ".dicom")) or "." not in name:
        from medbench.data.dicom import read_dicom

        return read_dicom(path)
    raise DataError(f"SliceViewer: cannot tell the format of {path}; use .nii/.nii.gz, .dcm or a DICOM folder")


def _to_numpy(x) -> tuple[np.ndarray, np.ndarray | None]:
    """Array-like -> (array, affine or None). MetaTensors give their affine; channels of size 1 drop."""
    affine = None
    if hasattr(x, "affine") and hasattr(x, "detach"):  # MONAI MetaTensor
        affine = np.asarray(x.affine.detach().cpu().numpy(), dtype=np.float64)
        if affine.ndim != 2:  # batched
            raise DataError("SliceViewer: got a batched MetaTensor; pass one image, e.g. batch['image'][0]")
        spatial = int(getattr(x, "spatial_ndim", affine.shape[0] - 1))
        arr = x.detach().cpu().numpy()
        if arr.ndim == spatial + 1 and arr.shape[0] == 1:  # channel-first, one channel
            arr = arr[0]
        if affine.shape[0] != 4:  # 2D affine (3x3): embed
            a = np.eye(4)
            a[:2, :2], a[:2, 3] = affine[:2, :2], affine[:2, 2]
            affine = a
        return arr, affine
    if hasattr(x, "detach"):  # torch tensor
        return x.detach().cpu().numpy(), None
    try:
        arr = np.asarray(x)
    except Exception as exc:  # noqa: BLE001 - anything numpy refuses
        raise DataError(f"SliceViewer: cannot turn {type(x).__name__} into an array") from exc
    return arr, None


def _squeeze_channel(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    elif arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3):
        raise DataError(f"SliceViewer: {what} must be 2D (X, Y) or 3D (X, Y, Z) (a single channel may lead or "
                        f"trail); got shape {arr.shape}")
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise DataError(f"SliceViewer: {what} must hold numbers, got dtype {arr.dtype}")
    return arr


def _spacing_from_affine(affine: np.ndarray, ndim: int) -> tuple[float, ...]:
    return tuple(float(s) for s in np.sqrt((np.asarray(affine)[:3, :ndim] ** 2).sum(axis=0)))


def _label_names(names) -> dict[int, str]:
    if names is None:
        return {}
    if not isinstance(names, Mapping):
        raise ConfigError("label_names must be a dict {name: id} (e.g. PHANTOM_LABELS) or {id: name}")
    out = {}
    for k, v in names.items():
        if isinstance(k, str) and isinstance(v, (int, np.integer)):
            out[int(v)] = k
        elif isinstance(k, (int, np.integer)):
            out[int(k)] = str(v)
        else:
            raise ConfigError(f"label_names entry {k!r}: {v!r} is neither name->id nor id->name")
    return out


def _intensity_sample(img: np.ndarray) -> np.ndarray:
    """At most ~200k voxels of ``img`` (for percentiles)."""
    return img.reshape(-1)[::max(1, img.size // 200_000)]


def check_modality(modality: str) -> str:
    """``"ct"`` or ``"mri"`` (any case) -> lower case; anything else raises ConfigError."""
    mod = str(modality).strip().lower()
    if mod not in MODALITIES:
        raise ConfigError(f"modality must be one of {MODALITIES} ('ct': values in HU; 'mri': any other "
                          f"intensity), got {modality!r}")
    return mod


def _as_label(lab, what: str, shape: tuple[int, ...]) -> np.ndarray | None:
    if lab is None:
        return None
    if isinstance(lab, (str, os.PathLike)):
        lab = _read_path(Path(lab))
    if isinstance(lab, Mapping):
        lab = lab.get("label", lab.get("image"))
    arr, _ = _to_numpy(lab)
    arr = _squeeze_channel(arr, what)
    if arr.shape != shape:
        raise DataError(f"SliceViewer: {what} shape {arr.shape} differs from image shape {shape}")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or not np.array_equal(arr, np.round(arr)):
            raise DataError(f"SliceViewer: {what} must hold integer label ids; for probabilities, "
                            "threshold or argmax them first")
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise DataError(f"SliceViewer: {what} ids must lie in 0..255, got {arr.min()}..{arr.max()}")
    return arr.astype(np.uint8)


def as_volume(image, label=None, prediction=None, *, spacing: Sequence[float] | None = None, affine=None,
              modality: str | None = None, layout: str = "xy") -> Volume:
    """Normalise anything the SliceViewer accepts into one :class:`Volume` (a pure function).

    Args:
        image: ``(X, Y, Z)`` or ``(X, Y)`` array / torch tensor / MONAI MetaTensor (a channel
            of size 1 may lead or trail), a path (NIfTI file, DICOM file or series folder) or a
            dict with ``"image"`` and optional ``"label"``, ``"affine"``, ``"spacing"``,
            ``"meta"`` (what medbench's readers and simulators return).
        label, prediction: integer label maps of the image's shape (arrays, tensors, paths or
            reader dicts), or ``None``; a dict's ``"label"`` is used when ``label`` is None.
        spacing: mm per array axis; default: the dict's, else the affine's, else 1 mm.
        affine: 4x4 voxel-to-RAS-mm matrix; default: the dict's or the MetaTensor's. A 3D
            volume is reoriented to RAS with it (axis permutations and flips only); a 2D
            ``"xy"`` image gets the flips that put the patient's right on the screen's left.
        modality: ``"ct"`` or ``"mri"``; default ``"ct"`` when a reader's meta says CT or the
            1st percentile is below -500 (air in HU), else ``"mri"``.
        layout: axis order of 2D input, ``"xy"``, ``"ras"`` or ``"rc"``.

    Returns:
        The :class:`Volume`.

    Raises:
        DataError: unreadable input, wrong dimensionality, NaN/inf voxels, label shape
            mismatch, non-integer labels.
        ConfigError: a bad spacing, affine, layout or modality.
    """
    if isinstance(image, (str, os.PathLike)):
        image = _read_path(Path(image))
    meta_modality = ""
    if isinstance(image, Mapping):
        d = image
        if "image" not in d:
            raise DataError(f"SliceViewer: the dict has no 'image' entry (keys: {sorted(d)})")
        image = d["image"]
        label = d.get("label") if label is None else label
        affine = d.get("affine") if affine is None else affine
        spacing = d.get("spacing") if spacing is None else spacing
        meta = d.get("meta")
        meta_modality = str(meta.get("modality", "") or "") if isinstance(meta, Mapping) else ""
    img, aff = _to_numpy(image)
    affine = aff if affine is None else affine
    img = _squeeze_channel(img, "image")
    if img.dtype.kind == "f" and not np.isfinite(img).all():
        raise DataError(f"SliceViewer: the image holds {int((~np.isfinite(img)).sum())} NaN/inf voxels; "
                        "replace them (np.nan_to_num) before viewing")
    if layout not in LAYOUTS_2D:
        raise ConfigError(f"layout must be one of {LAYOUTS_2D}, got {layout!r}")
    labels = [_as_label(label, "label", img.shape), _as_label(prediction, "prediction", img.shape)]
    # -------- geometry
    ndim = img.ndim
    if spacing is None:
        spacing = _spacing_from_affine(affine, ndim) if affine is not None else (1.0,) * ndim
    try:
        spacing = tuple(float(s) for s in spacing)[:ndim]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"spacing must be {ndim} numbers in mm, got {spacing!r}") from exc
    if len(spacing) != ndim or not all(np.isfinite(s) and s > 0 for s in spacing):
        raise ConfigError(f"spacing must be {ndim} positive numbers in mm, got {spacing!r}")
    orientation_in = "RAS (assumed)"
    flips = (False, False)
    if affine is not None:
        affine = np.asarray(affine, dtype=np.float64)
    if affine is not None and ndim == 3:
        (img, *labels), spacing, orientation_in = to_ras([img, *labels], affine, spacing)
    elif affine is not None:
        import nibabel as nib

        if affine.shape != (4, 4) or not np.isfinite(affine).all():
            raise ConfigError(f"affine must be a finite 4x4 matrix, got shape {affine.shape}")
        try:
            codes = nib.aff2axcodes(affine)
        except Exception:  # noqa: BLE001 - degenerate 2D affine: show as stored
            codes = ("?", "?", "?")
        orientation_in = "".join(c or "?" for c in codes)
        if layout == "xy":  # columns follow X, rows follow Y: put R/A/S where radiologists expect them
            flips = (codes[1] in ("A", "S"), codes[0] in ("R", "A"))
    # -------- modality
    if modality is None:
        is_ct = meta_modality.upper() == "CT" or float(np.percentile(_intensity_sample(img), 1)) < -500
        modality = "ct" if is_ct else "mri"
    return Volume(img, labels[0], labels[1], spacing, affine, orientation_in, check_modality(modality), layout,
                  flips)


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def encode_png(rgb: np.ndarray, compress_level: int = _PNG_COMPRESS_LEVEL) -> bytes:
    """``(H, W)`` grey or ``(H, W, 3)`` RGB uint8 -> PNG bytes.

    A minimal encoder (PNG spec, ISO/IEC 15948): every row uses the "Up" filter, computed
    in one NumPy subtraction, then zlib at a fast level. Pillow's encoder tries several
    filters per row, which made it ~2-8x slower here on 512 x 512 slices for similar sizes.
    """
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ConfigError(f"encode_png takes (H, W) or (H, W, 3) uint8, got {arr.dtype} {arr.shape}")
    h, w = arr.shape[:2]
    rows = arr.reshape(h, -1)
    raw = np.empty((h, rows.shape[1] + 1), np.uint8)
    raw[:, 0] = 2  # filter type 2 (Up): each byte minus the byte above, modulo 256
    raw[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=raw[1:, 1:])
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0 if arr.ndim == 2 else 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(raw.tobytes(), compress_level)) + _chunk(b"IEND", b""))


class Snapshot:
    """A static picture of a viewer state: shows as PNG in notebooks and as ``<img>`` in HTML."""

    def __init__(self, png: bytes, caption: str = "", legend_html: str = ""):
        self.png, self.caption, self.legend_html = png, caption, legend_html

    def _repr_png_(self) -> bytes:
        return self.png

    def _repr_html_(self) -> str:
        b64 = base64.b64encode(self.png).decode("ascii")
        cap = f"<div style='font:12px sans-serif'>{html.escape(self.caption)}</div>" if self.caption else ""
        return (f"<div style='display:inline-block'><img src='data:image/png;base64,{b64}'/>{cap}"
                f"{self.legend_html}</div>")

    def save(self, path: str | os.PathLike) -> Path:
        """Write the PNG to ``path``."""
        path = Path(path)
        path.write_bytes(self.png)
        return path


# ------------------------------------------------------------------------------- widget
class SliceViewer(W.VBox):
    """An axial/coronal/sagittal slice browser with CT windows, label overlays and compare mode.

    Args:
        image: ``(X, Y, Z)`` or ``(X, Y)`` array / torch tensor / MONAI MetaTensor (channel
            of size 1 allowed), a path (NIfTI file, DICOM file or series folder) or a dict
            with ``"image"`` and optional ``"label"``, ``"affine"``, ``"spacing"`` (what
            medbench's readers and simulators return).
        label: integer label map of the same shape (ground truth), or ``None``.
        prediction: a second label map (e.g. a model's output); with ``compare=True`` it is
            shown beside ``label``, else it is overlaid when there is no ``label``.
        spacing: voxel size in mm per array axis; default from the affine, else 1 mm.
        affine: 4x4 voxel-to-RAS-mm matrix; the volume is reoriented to RAS with it.
        plane: ``"axial"``, ``"coronal"`` or ``"sagittal"``.
        slice: starting slice index along the plane's normal (default: the middle).
        window: CT window preset name, ``(width, level)`` or ``None`` (CT: soft tissue;
            other modalities: the 0.5-99.5 percentile range).
        modality: ``"ct"`` (values are HU; window presets offered) or ``"mri"`` (any
            other intensity: percentile windows); by default CT when a reader's meta says
            CT or the 1st percentile is below -500 (air in HU).
        label_names: ``{name: id}`` (e.g. ``PHANTOM_LABELS``) or ``{id: name}`` for the legend.
        colors: ``{id: "#rrggbb" or (r, g, b) or None}`` overriding :data:`PALETTE`;
            ``None`` hides that label (e.g. the body outline).
        opacity: overlay opacity in [0, 1].
        compare: start in side-by-side mode (needs ``prediction``).
        size: on-screen width in CSS pixels of one panel's longer side.
        layout: ``"xy"``, ``"ras"`` or ``"rc"`` axis order of 2D input (see module docstring).
        titles: captions of the two panels in compare mode.

    Raises:
        DataError: unreadable input, wrong dimensionality, NaN/inf voxels, label shape
            mismatch, non-integer labels.
        ConfigError: an unknown plane, window, colour or option.
    """

    def __init__(self, image, label=None, prediction=None, *, spacing: Sequence[float] | None = None,
                 affine=None, plane: str = "axial", slice: int | None = None, window=None,
                 modality: str | None = None, label_names=None, colors=None, opacity: float = 0.4,
                 compare: bool = False, size: int = 420, layout: str = "xy",
                 titles: tuple[str, str] = ("truth", "prediction")):
        # -------- resolve inputs (a pure function: as_volume)
        vol = as_volume(image, label, prediction, spacing=spacing, affine=affine, modality=modality, layout=layout)
        img = vol.image
        self._is2d = vol.is2d
        self.volume = vol.image
        self.label, self.prediction = vol.label, vol.prediction
        self.spacing = vol.spacing
        self.layout_2d = vol.layout
        self.orientation_in = vol.orientation_in
        self._flip2d = vol.flips  # (rows, cols) flips of a 2D image, from its affine
        self.modality = vol.modality
        # -------- intensity
        sample = _intensity_sample(img)  # percentiles on <= ~200k voxels
        p_lo, p_hi = (float(v) for v in np.percentile(sample, [0.5, 99.5]))
        self.value_range = (float(img.min()), float(img.max()))
        self._auto_window = CTWindow("auto", max(p_hi - p_lo, 1e-6), (p_hi + p_lo) / 2)
        if self.modality == "ct":
            presets = list(CT_WINDOWS) + ["auto", "custom"]
            wmin, wmax = 1.0, 4000.0
            lmin, lmax = -1200.0, 3000.0
            default = "soft_tissue"
        else:
            presets = ["auto", "full range", "custom"]
            span = max(self.value_range[1] - self.value_range[0], 1e-6)
            wmin, wmax = span / 1000, 2 * span
            lmin, lmax = self.value_range[0] - span / 2, self.value_range[1] + span / 2
            default = "auto"
        # -------- labels and colours
        self.label_names = _label_names(label_names)
        self._lut, self._hidden = label_lut(colors)  # the shared palette (medbench.plots.display)
        self.titles = tuple(titles)

        # -------- controls
        style = {"description_width": "60px"}
        cu = True
        self.plane_buttons = W.ToggleButtons(options=list(PLANES), value="axial", description="plane",
                                             style={"button_width": "80px", "description_width": "60px"},
                                             disabled=self._is2d)
        self.slice_slider = W.IntSlider(value=0, min=0, max=0, description="slice", continuous_update=cu,
                                        style=style, layout=W.Layout(width="420px"))
        self.preset = W.Dropdown(options=presets, value=default, description="window", style=style,
                                 layout=W.Layout(width="200px"))
        self.width_slider = W.FloatSlider(value=400.0, min=wmin, max=wmax, step=(wmax - wmin) / 2000,
                                          description="width", continuous_update=cu, style=style,
                                          readout_format=".4g", layout=W.Layout(width="420px"))
        self.level_slider = W.FloatSlider(value=50.0, min=lmin, max=lmax, step=(lmax - lmin) / 2000,
                                          description="level", continuous_update=cu, style=style,
                                          readout_format=".4g", layout=W.Layout(width="420px"))
        has_labels = self.label is not None or self.prediction is not None
        self.opacity_slider = W.FloatSlider(value=float(opacity), min=0.0, max=1.0, step=0.05,
                                            description="opacity", continuous_update=cu, style=style,
                                            disabled=not has_labels, layout=W.Layout(width="420px"))
        self.compare_toggle = W.Checkbox(value=False, description="compare side by side",
                                         disabled=self.prediction is None or self.label is None, indent=False)
        self.image = W.Image(format="png")
        self.image2 = W.Image(format="png")
        self.caption = W.HTML()
        self.caption2 = W.HTML()
        self.legend = W.HTML()
        self.info = W.HTML()
        self._panel2 = W.VBox([self.caption2, self.image2], layout=W.Layout(display="none"))
        self._hold = False
        self._slices = {}
        self.frame: np.ndarray | None = None  # last rendered RGB, panel 1 (plus panel 2 side by side)
        self.frames: list[np.ndarray] = []
        self.n_renders = 0
        self.last_update_ms = float("nan")
        self._png = b""

        super().__init__([
            W.HBox([self.plane_buttons, self.preset, self.compare_toggle]),
            self.slice_slider,
            W.HBox([self.width_slider]), W.HBox([self.level_slider]),
            self.opacity_slider,
            W.HBox([W.VBox([self.caption, self.image]), self._panel2, self.legend]),
            self.info,
        ])
        self._size = int(size)
        # initial state, then wire handlers (one render at the end)
        self._present = self._find_labels()
        with self.hold_updates():
            if plane not in PLANES or (self._is2d and plane != "axial"):
                raise ConfigError(f"plane must be one of {PLANES} ('axial' for 2D input), got {plane!r}")
            self.plane_buttons.value = plane
            self._sync_slider()
            self._set_window_controls(*self._resolve_window(default if window is None else window))
            if slice is not None:
                self.slice = slice
            if compare:
                self.compare = True
        self.plane_buttons.observe(self._on_plane, names="value")
        self.preset.observe(self._on_preset, names="value")
        for w in (self.slice_slider, self.width_slider, self.level_slider, self.opacity_slider, self.compare_toggle):
            w.observe(self._on_change, names="value")
        self.update()

    # --------------------------------------------------------------------- state properties
    @property
    def n_slices(self) -> int:
        """Slices along the current plane's normal (1 for 2D input)."""
        return 1 if self._is2d else int(self.volume.shape[_NORMAL_AXIS[self.plane]])

    @property
    def plane(self) -> str:
        """``"axial"``, ``"coronal"`` or ``"sagittal"``; setting it keeps each plane's own slice."""
        return "axial" if self._is2d else self.plane_buttons.value

    @plane.setter
    def plane(self, value: str) -> None:
        if value not in PLANES:
            raise ConfigError(f"plane must be one of {PLANES}, got {value!r}")
        if self._is2d:
            if value != "axial":
                raise ConfigError("a 2D image has only one plane; plane can only be 'axial'")
            return
        self.plane_buttons.value = value  # the observer syncs the slider and re-renders

    @property
    def slice(self) -> int:
        """Index of the shown slice along the plane's normal axis (0 = left/posterior/inferior end)."""
        return int(self.slice_slider.value)

    @slice.setter
    def slice(self, value: int) -> None:
        value = int(value)
        if not 0 <= value < self.n_slices:
            raise ConfigError(f"slice {value} is outside 0..{self.n_slices - 1} for the {self.plane} plane")
        self.slice_slider.value = value

    @property
    def window(self) -> CTWindow:
        """The display window (width, level); set a preset name, ``(width, level)`` or a CTWindow."""
        name = self.preset.value
        return CTWindow(name, float(self.width_slider.value), float(self.level_slider.value))

    @window.setter
    def window(self, value) -> None:
        with self.hold_updates():
            self._set_window_controls(*self._resolve_window(value))
        if not self._hold:
            self.update()

    def _resolve_window(self, value) -> tuple[CTWindow, str | None]:
        """(window, preset name or None) from a preset name / (width, level) / CTWindow."""
        if isinstance(value, str) and value in self.preset.options and value != "custom":
            return self._preset_window(value), value
        if isinstance(value, str) and self.modality != "ct":
            raise ConfigError(f"window {value!r}: this {self.modality} image offers {list(self.preset.options)} "
                              "or (width, level)")
        win = get_window(value)
        if win.name in self.preset.options and win.name != "custom":
            return win, win.name
        for name in self.preset.options:  # a (width, level) equal to a preset is that preset
            if name != "custom":
                ref = self._preset_window(name)
                if np.isclose(ref.width, win.width) and np.isclose(ref.level, win.level):
                    return CTWindow(name, win.width, win.level), name
        return win, None

    @property
    def opacity(self) -> float:
        """Label overlay opacity in [0, 1] (0 hides it)."""
        return float(self.opacity_slider.value)

    @opacity.setter
    def opacity(self, value: float) -> None:
        if not 0.0 <= float(value) <= 1.0:
            raise ConfigError(f"opacity must lie in [0, 1], got {value}")
        self.opacity_slider.value = float(value)

    @property
    def compare(self) -> bool:
        """Side-by-side mode: image + label (left) and image + prediction (right)."""
        return bool(self.compare_toggle.value)

    @compare.setter
    def compare(self, value: bool) -> None:
        if value and (self.prediction is None or self.label is None):
            raise ConfigError("compare mode needs both a label (truth) and a prediction")
        self.compare_toggle.value = bool(value)

    @property
    def aspect(self) -> float:
        """Physical height / width of the current view (what the picture's shape follows)."""
        rows, cols, srow, scol = self._view_geometry()
        return (rows * srow) / (cols * scol)

    @property
    def display_shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of one rendered panel in pixels."""
        return self._render_shape()

    # --------------------------------------------------------------------- handlers
    @contextlib.contextmanager
    def hold_updates(self):
        """Change several controls with one render at the end (used by the setters)."""
        old, self._hold = self._hold, True
        try:
            yield self
        finally:
            self._hold = old

    def _on_change(self, _change=None) -> None:
        if self._hold:
            return
        if _change is not None and _change.get("owner") in (self.width_slider, self.level_slider):
            self._mark_custom()
        self.update()

    def _on_plane(self, change) -> None:
        self._slices[change["old"]] = self.slice
        self._sync_slider()
        if not self._hold:
            self.update()

    def _on_preset(self, change) -> None:
        name = change["new"]
        if name == "custom":
            return
        with self.hold_updates():
            self._set_window_controls(self._preset_window(name), preset=name)
        if not self._hold:
            self.update()

    def _preset_window(self, name: str) -> CTWindow:
        if name == "auto":
            return self._auto_window
        if name == "full range":
            lo, hi = self.value_range
            return CTWindow("full range", max(hi - lo, 1e-6), (hi + lo) / 2)
        return get_window(name)

    def _mark_custom(self) -> None:
        w = self.window
        current = self.preset.value
        if current != "custom":
            ref = self._preset_window(current)
            if not (np.isclose(ref.width, w.width, rtol=1e-3) and np.isclose(ref.level, w.level, rtol=1e-3,
                                                                                 atol=1e-3 * ref.width)):
                with self.hold_updates():
                    self.preset.value = "custom"

    def _set_window_controls(self, win: CTWindow, preset: str | None) -> None:
        with self.hold_updates():
            ws, ls = self.width_slider, self.level_slider
            if win.width > ws.max:
                ws.max = win.width
            if win.width < ws.min:
                ws.min = win.width
            if win.level > ls.max:
                ls.max = win.level
            if win.level < ls.min:
                ls.min = win.level
            ws.value, ls.value = win.width, win.level
            self.preset.value = preset if preset is not None else "custom"

    def _sync_slider(self) -> None:
        n = self.n_slices
        s = self._slices.get(self.plane, n // 2)
        sl = self.slice_slider
        with self.hold_updates():
            sl.max = n - 1
            sl.value = min(s, n - 1)
            sl.disabled = n <= 1

    # --------------------------------------------------------------------- rendering
    def _view(self, arr: np.ndarray, plane: str, index: int) -> np.ndarray:
        """The 2D view ``(rows, cols)`` of ``arr`` in display orientation (:func:`~medbench.plots.display.slice_view`)."""
        return slice_view(arr, plane, index, layout=self.layout_2d, flips=self._flip2d)

    def _view_geometry(self, plane: str | None = None) -> tuple[int, int, float, float]:
        """(rows, cols, row spacing, col spacing) of the view of ``plane`` (default: the current one)."""
        plane = plane or self.plane
        rows, cols = self._view(self.volume, plane, 0).shape
        return (rows, cols, *slice_spacing(self.spacing, plane, self.volume.ndim, self.layout_2d))

    def _render_shape(self, plane: str | None = None) -> tuple[int, int]:
        rows, cols, srow, scol = self._view_geometry(plane)
        h_mm, w_mm = rows * srow, cols * scol
        pix = min(srow, scol)  # never downsample the finer axis...
        long_mm = max(h_mm, w_mm)
        pix = min(pix, long_mm / _MIN_RENDER)  # ...upsample small images...
        pix = max(pix, long_mm / _MAX_RENDER)  # ...but cap the size
        return max(1, int(round(h_mm / pix))), max(1, int(round(w_mm / pix)))

    def render(self, labels: np.ndarray | None = "auto", plane: str | None = None,
               index: int | None = None) -> np.ndarray:
        """One panel as an RGB ``(H, W, 3)`` uint8 array (grey ``(H, W)`` when nothing is overlaid).

        Args:
            labels: the label volume to overlay; ``"auto"`` = the label (or the prediction
                when there is no label), ``None`` = none.
            plane, index: default to the current plane and slice.
        """
        from PIL import Image

        plane = plane or self.plane
        index = self.slice if index is None else int(index)
        if isinstance(labels, str):
            labels = self.label if self.label is not None else self.prediction
        win = self.window
        view = self._view(self.volume, plane, index)
        grey = apply_window(view, win, out_range=(0.0, 255.0), dtype=np.uint8)
        out_h, out_w = self._render_shape(plane)
        resize = (out_h, out_w) != grey.shape
        if resize:
            grey = np.asarray(Image.fromarray(grey).resize((out_w, out_h), Image.BILINEAR))
        alpha = self.opacity
        if labels is None or alpha <= 0:
            return grey
        lab = np.ascontiguousarray(self._view(labels, plane, index))
        if resize:
            lab = np.asarray(Image.fromarray(lab).resize((out_w, out_h), Image.NEAREST))
        alpha8 = np.where(self._hidden, 0, int(round(alpha * 255))).astype(np.uint8)
        mask = Image.fromarray(alpha8[lab])  # per-pixel opacity, 0 on background / hidden ids
        colour = Image.fromarray(lab)
        colour.putpalette(self._lut.astype(np.uint8).tobytes())
        # Pillow's C composite: grey * (1 - a) + colour * a, ~10x faster than NumPy masking
        return np.asarray(Image.composite(colour.convert("RGB"), Image.fromarray(grey).convert("RGB"), mask))

    def update(self) -> None:
        """Re-render the picture(s) from the current state (the handlers call this)."""
        t0 = time.perf_counter()
        compare = self.compare
        if compare:
            left = self.render(self.label)
            right = self.render(self.prediction)
            self.frames = [left, right]
            pngs = [encode_png(left), encode_png(right)]
            self.image.value, self.image2.value = pngs
        else:
            left = self.render("auto")
            self.frames = [left]
            pngs = [encode_png(left)]
            self.image.value = pngs[0]
        self.frame = left
        self._png = pngs[0]
        h, w = left.shape[:2]
        scale = self._size / max(h, w)
        for img in (self.image, self.image2):
            img.layout.width, img.layout.height = f"{round(w * scale)}px", f"{round(h * scale)}px"
        self._panel2.layout.display = None if compare else "none"
        self.caption.value = f"<b>{html.escape(self.titles[0])}</b>" if compare else ""
        self.caption2.value = f"<b>{html.escape(self.titles[1])}</b>" if compare else ""
        self.legend.value = self.legend_html()
        self.info.value = html.escape(self.describe())
        self.n_renders += 1
        self.last_update_ms = (time.perf_counter() - t0) * 1000.0

    # --------------------------------------------------------------------- text, legend, snapshots
    def _find_labels(self) -> list[int]:
        ids: set[int] = set()
        for lab in (self.label, self.prediction):
            if lab is not None:
                ids.update(int(i) for i in np.flatnonzero(np.bincount(lab.reshape(-1), minlength=1)) if i > 0)
        return sorted(ids)

    def present_labels(self) -> list[int]:
        """Label ids (> 0) present anywhere in the label and prediction volumes."""
        return list(self._present)

    def legend_html(self) -> str:
        """HTML legend: one colour swatch and name per label id present."""
        ids = [i for i in self.present_labels() if not self._hidden[i]]
        if not ids or self.opacity <= 0:
            return ""
        rows = "".join(
            f"<div><span style='display:inline-block;width:12px;height:12px;margin-right:4px;"
            f"background:{to_hex(self._lut[i])};vertical-align:middle'></span>"
            f"{html.escape(self.label_names.get(i, f'label {i}'))}</div>"
            for i in ids)
        return f"<div style='font:12px sans-serif;padding-left:8px'>{rows}</div>"

    def describe(self) -> str:
        """One line: plane, slice (and its position in mm), window, spacing."""
        w = self.window
        unit = " HU" if self.modality == "ct" else ""
        if self._is2d:
            where = "2D image"
        else:
            ax = _NORMAL_AXIS[self.plane]
            where = (f"{self.plane} slice {self.slice}/{self.n_slices - 1} "
                     f"({self.slice * self.spacing[ax]:.1f} mm from the {('left', 'posterior', 'inferior')[ax]} end)")
        sp = " x ".join(f"{s:g}" for s in self.spacing)
        return (f"{where}; window {w.name} W{w.width:.4g}/L{w.level:.4g}{unit}; spacing {sp} mm; "
                f"input orientation {self.orientation_in}")

    def to_png(self) -> bytes:
        """PNG bytes of the current view (both panels side by side in compare mode)."""
        if len(self.frames) == 1:
            return self._png
        frames = [f if f.ndim == 3 else np.repeat(f[..., None], 3, axis=2) for f in self.frames]
        h = max(f.shape[0] for f in frames)
        gap = np.full((h, 8, 3), 255, np.uint8)
        pads = [np.pad(f, ((0, h - f.shape[0]), (0, 0), (0, 0)), constant_values=255) for f in frames]
        return encode_png(np.concatenate([pads[0], gap, pads[1]], axis=1))

    def snapshot(self) -> Snapshot:
        """A static :class:`Snapshot` (PNG + caption + legend) for reports and exports."""
        cap = self.describe()
        if self.compare:
            cap = f"left: {self.titles[0]}, right: {self.titles[1]}. " + cap
        return Snapshot(self.to_png(), cap, self.legend_html())

    def _repr_png_(self) -> bytes:
        """A static PNG fallback for front-ends without widgets."""
        return self.to_png()


def time_updates(viewer: SliceViewer, n: int = 30, warmup: int = 3) -> np.ndarray:
    """Wall-clock milliseconds of ``n`` viewer updates driven like slider moves.

    A 3D viewer steps through slices (``viewer.slice = k``); a 2D one changes the window
    level by 1 HU per step (``viewer.window = (W, L + i)``). Each time covers the handler,
    windowing, overlay, PNG encoding and the assignment to the ``ipywidgets.Image``.

    Returns:
        ``(n,)`` array of milliseconds (take the median; single values are noisy).
    """
    if n < 1:
        raise ConfigError(f"n must be >= 1, got {n}")
    times = []
    w = viewer.window
    for i in range(warmup + n):
        t0 = time.perf_counter()
        if viewer.n_slices > 1:
            viewer.slice = (viewer.slice + 1) % viewer.n_slices
        else:
            viewer.window = (w.width, w.level + (i % 20) + 1)
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1000.0)
    viewer.window = w
    return np.asarray(times)


__all__ = ["MODALITIES", "PALETTE", "PLANES", "SliceViewer", "Snapshot", "Volume", "as_volume", "check_modality",
           "encode_png", "time_updates"]
