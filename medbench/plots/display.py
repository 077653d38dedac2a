"""One display convention and one label palette for every slice medbench draws.

The :class:`~medbench.widgets.slice_viewer.SliceViewer` and every 2D slice figure in
:mod:`medbench.plots` go through this module, so the same case looks the same in a widget
and in a static report figure:

* **Orientation.** 3D arrays are ``(X, Y, Z)`` in RAS order (+X patient right, +Y anterior,
  +Z superior) and show in the radiological view of
  :func:`medbench.transforms.display_view` (patient's right on the screen's left; anterior
  up in axial views, superior up in coronal and sagittal views). 2D arrays follow one of the
  layouts of :func:`view_2d`.
* **Aspect.** Pixels keep their physical size: a view of a volume with ``spacing`` is drawn
  with the row/column millimetres of :func:`medbench.transforms.view_spacing`.
* **Intensity.** Windows map values to grey with :func:`medbench.transforms.apply_window`.
* **Labels.** Label id ``k >= 1`` gets ``PALETTE[(k - 1) % len(PALETTE)]``; id 0
  (background) is never drawn. A ``colors`` mapping ``{id: "#rrggbb" | (r, g, b) | None}``
  overrides single ids (``None`` hides one, e.g. the phantom's body outline);
  ``PHANTOM_COLORS`` and ``BRAIN_COLORS`` are the overrides chapters use.

This module imports nothing from :mod:`medbench.widgets` (widgets import it).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from medbench.errors import ConfigError
from medbench.transforms import NORMAL_AXIS, apply_window, display_view, view_spacing

#: The label palette (RGB 0-255) for label ids 1, 2, ... (cycled); id 0 is never drawn.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
    (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0), (255, 215, 180),
    (0, 0, 128), (128, 128, 128),
)


def _phantom_colors() -> dict[int, str | None]:
    from medbench.data.phantom import PHANTOM_LABELS

    # body and fat cover the whole torso: hidden, so the organs stay visible
    return {PHANTOM_LABELS["body"]: None, PHANTOM_LABELS["fat"]: None}


def _brain_colors() -> dict[int, str | None]:
    from medbench.data.brain import BRAIN_LABELS

    return {BRAIN_LABELS["csf_other"]: "#377eb8", BRAIN_LABELS["grey_matter"]: "#e41a1c",
            BRAIN_LABELS["white_matter"]: "#ffd92f"}


_NAMED_COLORS = {"PHANTOM_COLORS": _phantom_colors, "BRAIN_COLORS": _brain_colors}


def __getattr__(name: str):
    """``PHANTOM_COLORS`` (CT phantom: body and fat hidden) and ``BRAIN_COLORS`` (MNI152: CSF blue,
    grey matter red, white matter yellow): ``colors`` overrides keyed by the label ids of
    ``medbench.data.phantom.PHANTOM_LABELS`` / ``medbench.data.brain.BRAIN_LABELS``, built on
    first use so that importing this module does not import the simulators."""
    if name in _NAMED_COLORS:
        value = _NAMED_COLORS[name]()
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------------------- colours
def parse_color(c) -> tuple[int, int, int]:
    """``"#rrggbb"``, ``(r, g, b)`` in 0-255 or in 0-1 -> ``(r, g, b)`` ints in 0-255.

    Raises:
        ConfigError: not a colour of that form.
    """
    if isinstance(c, str):
        c = c.lstrip("#")
        if len(c) != 6:
            raise ConfigError(f"colour {c!r} must be '#rrggbb' or an (r, g, b) tuple")
        try:
            return tuple(int(c[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
        except ValueError as exc:
            raise ConfigError(f"colour {c!r} must be '#rrggbb' with hexadecimal digits") from exc
    try:
        rgb = tuple(float(v) for v in c)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"colour {c!r} must be '#rrggbb' or an (r, g, b) tuple") from exc
    if len(rgb) != 3:
        raise ConfigError(f"colour {c!r} must have 3 components")
    if max(rgb) <= 1.0:
        rgb = tuple(v * 255 for v in rgb)
    return tuple(int(round(v)) for v in rgb)  # type: ignore[return-value]


def to_hex(rgb) -> str:
    """``(r, g, b)`` in 0-255 -> ``"#rrggbb"``."""
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb))


def label_lut(colors: Mapping | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The colour of every label id: :data:`PALETTE` with the ``colors`` overrides applied.

    Args:
        colors: ``{id: "#rrggbb" | (r, g, b) | None}``; ``None`` hides that id.

    Returns:
        ``(lut, hidden)``: ``(256, 3)`` uint8 RGB per id and ``(256,)`` bool (id 0 is
        always hidden).

    Raises:
        ConfigError: ``colors`` is not a mapping, an id outside 1..255, or a bad colour.
    """
    lut = np.zeros((256, 3), dtype=np.uint8)
    for i in range(1, 256):
        lut[i] = PALETTE[(i - 1) % len(PALETTE)]
    hidden = np.zeros(256, dtype=bool)
    hidden[0] = True
    if colors is not None and not isinstance(colors, Mapping):
        raise ConfigError("colors must be a dict {label id: '#rrggbb' | (r, g, b) | None}")
    for k, c in (colors or {}).items():
        if not 0 < int(k) < 256:
            raise ConfigError(f"colors: label id {k} must lie in 1..255")
        if c is None:
            hidden[int(k)] = True
        else:
            lut[int(k)] = parse_color(c)
    return lut, hidden


def label_color(label_id: int, colors: Mapping | None = None) -> tuple[float, float, float]:
    """Matplotlib colour (RGB in 0-1) of one label id under the shared palette."""
    lut, _ = label_lut(colors)
    return tuple(float(v) / 255.0 for v in lut[int(label_id)])  # type: ignore[return-value]


def label_rgba(lab2d: np.ndarray, colors: Mapping | None = None, alpha: float = 0.4) -> np.ndarray:
    """A label slice -> ``(H, W, 4)`` float RGBA for ``imshow`` (transparent on 0 and hidden ids).

    Args:
        lab2d: ``(H, W)`` integer label ids in 0..255, already in display orientation.
        colors: overrides of :data:`PALETTE` (see :func:`label_lut`).
        alpha: opacity of drawn labels.
    """
    lut, hidden = label_lut(colors)
    lab = np.asarray(lab2d).astype(np.int64)
    if lab.size and (lab.min() < 0 or lab.max() > 255):
        raise ConfigError(f"label ids must lie in 0..255, got {lab.min()}..{lab.max()}")
    rgba = np.zeros(lab.shape + (4,), dtype=np.float32)
    rgba[..., :3] = lut[lab] / 255.0
    rgba[..., 3] = np.where(hidden[lab], 0.0, float(alpha))
    return rgba


# ------------------------------------------------------------------------------- orientation
LAYOUTS_2D = ("xy", "ras", "rc")


def view_2d(image: np.ndarray, layout: str = "xy", flips: tuple[bool, bool] = (False, False)) -> np.ndarray:
    """A 2D image in display orientation ``(rows, cols)``.

    Args:
        image: the 2D array.
        layout: ``"xy"``: ``(X, Y)`` = (columns, rows), as the DICOM reader returns them;
            ``"ras"``: an axial slice ``volume[:, :, k]`` of a RAS volume, shown in the
            radiological view (the same as :func:`~medbench.transforms.display_view`);
            ``"rc"``: already ``(rows, columns)`` (MedMNIST, ``imshow`` order).
        flips: ``(rows, cols)`` flips applied after the layout (``"xy"``/``"rc"`` only), e.g.
            from a 2D affine so that the patient's right is on the screen's left.

    Returns:
        A ``(rows, cols)`` view (no copy).
    """
    if layout == "ras":
        return display_view(image[:, :, None], "axial", 0)
    if layout == "xy":
        view = image.T
    elif layout == "rc":
        view = image
    else:
        raise ConfigError(f"layout must be one of {LAYOUTS_2D}, got {layout!r}")
    if flips[0]:
        view = view[::-1]
    if flips[1]:
        view = view[:, ::-1]
    return view


def view_spacing_2d(spacing: Sequence[float], layout: str = "xy") -> tuple[float, float]:
    """``(row mm, column mm)`` of :func:`view_2d`'s picture of an image with ``spacing`` (per array axis)."""
    s0, s1 = (float(s) for s in spacing[:2])
    return (s0, s1) if layout == "rc" else (s1, s0)


def slice_view(array: np.ndarray, plane: str = "axial", index: int | None = None, *, layout: str = "xy",
               flips: tuple[bool, bool] = (False, False)) -> np.ndarray:
    """The ``(rows, cols)`` display view of a 3D volume's slice or of a 2D image.

    3D: :func:`medbench.transforms.display_view` (``index`` default: the middle slice);
    2D: :func:`view_2d` with ``layout`` and ``flips`` (``plane`` must be ``"axial"``).
    """
    array = np.asarray(array)
    if array.ndim == 2:
        if plane != "axial":
            raise ConfigError(f"a 2D image has only the axial plane, got plane={plane!r}")
        return view_2d(array, layout, flips)
    if array.ndim != 3:
        raise ConfigError(f"slice_view takes a 2D (X, Y) or 3D (X, Y, Z) array, got shape {array.shape}")
    if index is None:
        index = array.shape[NORMAL_AXIS[plane]] // 2 if plane in NORMAL_AXIS else 0
    return display_view(array, plane, int(index))


def slice_spacing(spacing: Sequence[float], plane: str = "axial", ndim: int = 3,
                  layout: str = "xy") -> tuple[float, float]:
    """``(row mm, column mm)`` of :func:`slice_view`'s picture."""
    return view_spacing(spacing, plane) if ndim == 3 else view_spacing_2d(spacing, layout)


def show_slice(ax, array: np.ndarray, plane: str = "axial", index: int | None = None, *,
               spacing: Sequence[float] | None = None, label: np.ndarray | None = None, window=None,
               vmin: float | None = None, vmax: float | None = None, alpha: float = 0.4,
               colors: Mapping | None = None, layout: str = "xy", cmap: str = "gray",
               title: str | None = None):
    """Draw one slice on a matplotlib axis the way the SliceViewer shows it.

    Args:
        ax: the matplotlib ``Axes``.
        array: ``(X, Y, Z)`` RAS volume or a 2D image (see :func:`slice_view`).
        plane, index: which slice (``index`` default: the middle one).
        spacing: mm per array axis (default 1 mm): sets the physical aspect.
        label: integer label map of ``array``'s shape, overlaid with the shared palette.
        window: CT window (preset, ``(width, level)``) applied with
            :func:`~medbench.transforms.apply_window`; else ``vmin``/``vmax`` (default: the
            slice's range).
        alpha: label opacity; colors: palette overrides (:func:`label_lut`).
        layout: axis order of 2D input.
        title: axis title.

    Returns:
        The ``(rows, cols)`` array that was drawn (before windowing).
    """
    array = np.asarray(array)
    spacing = (1.0,) * array.ndim if spacing is None else spacing
    view = slice_view(array, plane, index, layout=layout)
    row_mm, col_mm = slice_spacing(spacing, plane, array.ndim, layout)
    shown = view
    if window is not None:
        shown, vmin, vmax = apply_window(view, window), 0.0, 1.0
    ax.imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax, aspect=row_mm / col_mm, interpolation="nearest")
    if label is not None:
        lab = slice_view(np.asarray(label), plane, index, layout=layout)
        if (np.asarray(lab) > 0).any():
            ax.imshow(label_rgba(lab, colors, alpha), aspect=row_mm / col_mm, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return view


def legend_handles(label_names: Mapping, present: Sequence[int] | None = None, colors: Mapping | None = None,
                   with_ids: bool = False) -> list:
    """Matplotlib legend patches in the shared palette for labels ``{name: id}`` or ``{id: name}``.

    Args:
        label_names: ``{name: id}`` (e.g. ``PHANTOM_LABELS``) or ``{id: name}``.
        present: list only these ids (e.g. those in a label map); default all.
        colors: palette overrides; hidden ids and id 0 are left out.
        with_ids: label entries ``"<id> <name>"`` rather than ``"<name>"``.
    """
    from matplotlib.patches import Patch

    lut, hidden = label_lut(colors)
    pairs = [(int(v), str(k)) if isinstance(k, str) else (int(k), str(v)) for k, v in label_names.items()]
    keep = set(int(i) for i in present) if present is not None else None
    return [Patch(color=tuple(lut[i] / 255.0), label=f"{i} {name}" if with_ids else name) for i, name in pairs
            if i > 0 and not hidden[i] and (keep is None or i in keep)]


__all__ = ["LAYOUTS_2D", "PALETTE", "label_color", "label_lut", "label_rgba",
           "legend_handles", "parse_color", "show_slice", "slice_spacing", "slice_view", "to_hex", "view_2d",
           "view_spacing_2d"]
