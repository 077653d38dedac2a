"""One display convention and one palette: plots draw the slices the SliceViewer shows."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest

from medbench.errors import ConfigError
from medbench.plots import display
from medbench.transforms import display_view, view_spacing

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[2]


def _case(shape=(30, 24, 16)):
    rng = np.random.default_rng(0)
    img = rng.normal(40.0, 30.0, shape).astype(np.float32)
    lab = np.zeros(shape, np.uint8)
    lab[18:26, 6:14, 4:12] = 1  # at the patient's right (high x), anterior-ish
    lab[4:9, 14:20, 6:10] = 2
    img[lab == 2] = 700.0
    return img, lab


def _images(ax):
    """(grey array, overlay RGBA or None) drawn on a matplotlib axis."""
    ims = ax.get_images()
    return np.asarray(ims[0].get_array()), (np.asarray(ims[1].get_array()) if len(ims) > 1 else None)


def test_show_slice_draws_display_view_with_physical_aspect():
    import matplotlib.pyplot as plt

    img, lab = _case()
    spacing = (0.8, 1.2, 3.0)
    for plane, k in (("axial", 7), ("coronal", 10), ("sagittal", 20)):
        fig, ax = plt.subplots()
        drawn = display.show_slice(ax, img, plane, k, spacing=spacing, label=lab, vmin=-100, vmax=200)
        grey, rgba = _images(ax)
        assert np.array_equal(drawn, display_view(img, plane, k)) and np.array_equal(grey, drawn)
        row_mm, col_mm = view_spacing(spacing, plane)
        assert ax.get_aspect() == pytest.approx(row_mm / col_mm)
        shown = display_view(lab, plane, k)
        if (shown > 0).any():
            assert np.array_equal(rgba[..., 3] > 0, shown > 0)
        plt.close(fig)


def test_plot_overlays_and_viewer_show_the_same_oriented_slice():
    """Chapter 03's figure and the SliceViewer: the same radiological view, aspect and colours."""
    from medbench.plots.segmentation import plot_overlays
    from medbench.widgets.slice_viewer import SliceViewer

    img, lab = _case()
    spacing = (1.0, 1.0, 2.5)
    fig = plot_overlays(img, lab, lab, ["a", "b"], n_slices=1, spacing=spacing)
    ax = fig.axes[0]
    z = int(ax.get_title().split("=")[1])
    grey, rgba = _images(ax)
    viewer = SliceViewer(img, lab, spacing=spacing, slice=z)
    assert np.array_equal(grey, viewer._view(viewer.volume, "axial", z))
    assert np.array_equal(grey, display_view(img, "axial", z))  # not img[:, :, z].T with origin="lower"
    assert ax.get_aspect() == pytest.approx(spacing[1] / spacing[0])
    shown = display_view(lab, "axial", z)
    for k in (1, 2):
        if (shown == k).any():
            assert np.allclose(rgba[shown == k][0, :3], np.array(display.PALETTE[k - 1]) / 255.0)
            assert np.allclose(rgba[shown == k][0, :3], viewer._lut[k] / 255.0)
    legend = {t.get_text(): h for t, h in zip(fig.legends[0].get_texts(), fig.legends[0].legend_handles)}
    assert np.allclose(legend["a"].get_facecolor()[:3], np.array(display.PALETTE[0]) / 255.0)


def test_phantom_montage_uses_display_view_and_the_viewer_colours():
    import matplotlib.pyplot as plt

    from medbench.data.phantom import PHANTOM_LABELS, make_ct_phantom
    from medbench.plots.phantom import plot_phantom
    from medbench.widgets.slice_viewer import SliceViewer

    case = make_ct_phantom(shape=(40, 32, 20), seed=1)
    fig = plot_phantom(case, planes=("coronal",), n_slices=2)
    ax = fig.axes[0]
    j = int(ax.get_title().split()[-1])
    grey, rgba = _images(ax)
    assert np.array_equal(grey, display_view(case["image"], "coronal", j))
    shown = display_view(case["label"], "coronal", j)
    viewer = SliceViewer(case, colors=display.PHANTOM_COLORS)
    assert viewer._hidden[PHANTOM_LABELS["body"]] and viewer._hidden[PHANTOM_LABELS["fat"]]
    assert not rgba[shown == PHANTOM_LABELS["body"], 3].any()  # hidden in both
    liver = shown == PHANTOM_LABELS["liver"]
    if liver.any():
        assert np.allclose(rgba[liver][0, :3], viewer._lut[PHANTOM_LABELS["liver"]] / 255.0)
    plt.close(fig)


def test_view_2d_matches_the_viewer_for_each_layout():
    from medbench.widgets.slice_viewer import SliceViewer

    img = np.arange(48, dtype=np.float32).reshape(6, 8)
    assert np.array_equal(display.view_2d(img, "xy"), img.T)
    assert np.array_equal(display.view_2d(img, "rc"), img)
    assert np.array_equal(display.view_2d(img, "ras"), display_view(img[:, :, None], "axial", 0))
    assert np.array_equal(display.view_2d(img, "xy", (True, False)), img.T[::-1])
    for layout in display.LAYOUTS_2D:
        v = SliceViewer(img, layout=layout, modality="mri")
        assert np.array_equal(v._view(v.volume, "axial", 0), display.view_2d(img, layout))
    with pytest.raises(ConfigError):
        display.view_2d(img, "yx")


def test_one_palette_and_its_overrides():
    lut, hidden = display.label_lut({3: "#00ff00", 4: None, 5: (0.0, 0.0, 1.0)})
    assert lut.shape == (256, 3) and lut.dtype == np.uint8 and hidden[0] and hidden[4] and not hidden[1]
    assert tuple(lut[1]) == display.PALETTE[0] and tuple(lut[3]) == (0, 255, 0) and tuple(lut[5]) == (0, 0, 255)
    assert tuple(lut[len(display.PALETTE) + 1]) == display.PALETTE[0]  # cycles
    assert display.to_hex(display.parse_color("#0A0b0C")) == "#0a0b0c"
    for bad in ("#12", "red", (1, 2)):
        with pytest.raises(ConfigError):
            display.parse_color(bad)
    with pytest.raises(ConfigError):
        display.label_lut([1, 2])
    with pytest.raises(ConfigError):
        display.label_lut({0: "#ffffff"})


def test_no_copied_palette_in_plots_or_widgets():
    """The palette's colours are written once: in medbench/plots/display.py."""
    first = "(230, 25, 75)"
    hits = [p for d in ("medbench/plots", "medbench/widgets") for p in (ROOT / d).glob("*.py")
            if first in p.read_text()]
    assert [p.name for p in hits] == ["display.py"]
    import medbench.plots.phantom as ph
    import medbench.plots.segmentation as seg

    assert not hasattr(seg, "_PALETTE") and not hasattr(ph, "LABEL_COLOURS") and not hasattr(ph, "plot_patches")


def test_named_colour_overrides_follow_the_label_tables():
    from medbench.data.brain import BRAIN_LABELS
    from medbench.data.phantom import PHANTOM_LABELS

    assert display.PHANTOM_COLORS == {PHANTOM_LABELS["body"]: None, PHANTOM_LABELS["fat"]: None}
    assert set(display.BRAIN_COLORS) == {i for n, i in BRAIN_LABELS.items() if n != "background"}
