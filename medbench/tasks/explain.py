"""Image explanations measured against the truth (chapter 07).

- :func:`explain`: one call for every attribution method; maps of the input's shape, from
  ``captum`` (Saliency, IntegratedGradients, NoiseTunnel/SmoothGrad, Occlusion, Lime and
  KernelShap on superpixels, LayerGradCam) and ``monai.visualize`` (GradCAM, OcclusionSensitivity);
- :func:`score_methods`: pointing game, relevance mass and seconds per image of each method
  against the patch simulator's nodule masks (:mod:`medbench.metrics.attribution`);
- :func:`cascading_randomisation` and :func:`randomisation_table`: the sanity checks of
  Adebayo et al. (2018), a model's layers re-initialised from the top, and a model trained on
  shuffled labels, each method's maps compared with the trained model's by Spearman correlation;
- :func:`add_marker` and :func:`shortcut_experiment`: a burned-in marker that correlates with the
  label (a "Clever Hans" shortcut, Zech et al. 2018) caught by its attribution mass.

Models are a :class:`~medbench.tasks.classification.ImageClassifier` (images in HU, its
evaluation pipeline applied first) or a bare ``torch.nn.Module`` (images already in its input
space). Maps are returned in the model's input space, ``(N, C, H, W)`` float32.
"""
from __future__ import annotations

import copy
import time
import warnings

import numpy as np
import torch
from torch import nn

from medbench.errors import ConfigError, DataError

__all__ = ["METHODS", "GRADIENT_METHODS", "explain", "model_inputs", "superpixels", "score_methods",
           "cascading_randomisation", "randomisation_table", "add_marker", "marker_mask", "shortcut_experiment"]

METHODS = ("saliency", "integrated_gradients", "smoothgrad", "gradcam", "monai_gradcam", "occlusion",
           "monai_occlusion", "lime", "kernel_shap")
#: methods that read the model's gradients (the others only its outputs on perturbed inputs)
GRADIENT_METHODS = ("saliency", "integrated_gradients", "smoothgrad", "gradcam", "monai_gradcam")


def _net(model) -> nn.Module:
    net = getattr(model, "model_", model)
    if not isinstance(net, nn.Module):
        raise ConfigError("model must be a fitted ImageClassifier or a torch.nn.Module")
    return net.eval()


def model_inputs(model, images) -> torch.Tensor:
    """The tensor ``(N, C, H, W)`` the network sees: an ImageClassifier's evaluation pipeline
    applied to ``images`` (HU), or ``images`` unchanged for a bare module."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise DataError(f"images must be (N, C, H, W) or (N, H, W), got shape {np.shape(images)}")
    if hasattr(model, "pipeline") and hasattr(model, "model_"):
        pre = model.pipeline(train=False)
        return torch.stack([torch.as_tensor(pre({"image": im})["image"]) for im in x]).float()
    return torch.from_numpy(x)


def _conv_layers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in net.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))]


def superpixels(x: torch.Tensor, n_segments: int = 24, compactness: float = 0.1) -> torch.Tensor:
    """SLIC superpixels of each image (skimage), the features LIME and KernelSHAP switch on and off.

    An image that SLIC cuts into fewer than 4 segments (a nearly flat one) gets a regular grid
    of about ``n_segments`` squares instead, so the surrogate models always have features to weigh.

    Args:
        x: ``(N, 1, H, W)`` images in [0, 1].
        n_segments: approximate number of superpixels per image.
        compactness: SLIC compactness (small: follow intensity edges).

    Returns:
        ``(N, 1, H, W)`` int64 segment ids starting at 0.
    """
    from skimage.segmentation import slic

    h, w = x.shape[-2:]
    side = max(1, int(round(np.sqrt(h * w / max(n_segments, 1)))))
    grid = (np.arange(h)[:, None] // side) * int(np.ceil(w / side)) + np.arange(w)[None] // side
    seg = []
    for im in x:
        s = slic(im[0].double().numpy(), n_segments=n_segments, compactness=compactness, channel_axis=None,
                 start_label=0, enforce_connectivity=True)
        seg.append(s if len(np.unique(s)) >= 4 else grid)
    return torch.from_numpy(np.stack(seg)[:, None].astype(np.int64))


def _gradcam_layer(net: nn.Module, layer: str | None) -> str:
    convs = _conv_layers(net)
    if layer is None:
        if not convs:
            raise ConfigError("Grad-CAM needs a convolution layer; pass layer= the name of a feature layer")
        return convs[-1][0]
    if layer not in dict(net.named_modules()):
        raise ConfigError(f"layer {layer!r} is not a module of the network; use one of {[n for n, _ in convs]}")
    return layer


def explain(model, images, method: str = "saliency", *, target: int = 1, batch_size: int = 32, n_steps: int = 32,
            nt_samples: int = 12, nt_stdev: float = 0.1, window: int = 6, stride: int = 2, n_samples: int = 150,
            n_segments: int = 24, baseline: float = 0.0, layer: str | None = None, seed: int = 0,
            progress: bool = False) -> np.ndarray:
    """Attribution maps of ``images`` for class ``target``, of the input's shape.

    Gradient methods explain the target's logit; perturbation methods (occlusion, LIME,
    KernelSHAP) its softmax probability. Positive values are evidence *for* the class.

    Args:
        model: a fitted ImageClassifier (images in HU) or a module (images in its input space).
        images: ``(N, C, H, W)`` or ``(N, H, W)``.
        method: one of :data:`METHODS`.
        target: class index explained.
        batch_size: images per forward/backward pass (bounds memory: IG runs
            ``batch_size`` x ``n_steps`` inputs at most, through ``internal_batch_size``).
        n_steps: Integrated Gradients' path steps.
        nt_samples, nt_stdev: SmoothGrad's noisy copies and their std (input units).
        window, stride: occlusion patch side and stride (pixels); MONAI's mask size is ``window``.
        n_samples: LIME / KernelSHAP perturbed samples per image.
        n_segments: superpixels per image for LIME / KernelSHAP.
        baseline: the "absent" input value (0 = air after the CT window).
        layer: Grad-CAM's layer name (default: the last convolution).
        seed: seed of the random methods (SmoothGrad, LIME, KernelSHAP).
        progress: a tqdm bar over batches.

    Returns:
        ``(N, C, H, W)`` float32 maps (Grad-CAM maps upsampled to ``H x W`` and repeated over ``C``).

    Raises:
        ConfigError: an unknown method or layer.
    """
    from captum import attr

    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    net = _net(model)
    x_all = model_inputs(model, images)
    dev = next(iter(net.parameters()), torch.zeros(0)).device
    torch.manual_seed(seed)

    def prob(z):
        return torch.softmax(net(z), dim=1)

    out = []
    starts = range(0, len(x_all), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=method)
    for s in starts:
        x = x_all[s:s + batch_size].to(dev).requires_grad_(method in GRADIENT_METHODS)
        if method == "saliency":
            a = attr.Saliency(net).attribute(x, target=target, abs=True)
        elif method == "integrated_gradients":
            a = attr.IntegratedGradients(net).attribute(x, baselines=baseline, target=target, n_steps=n_steps,
                                                        internal_batch_size=batch_size * 4)
        elif method == "smoothgrad":
            a = attr.NoiseTunnel(attr.Saliency(net)).attribute(x, nt_type="smoothgrad", nt_samples=nt_samples,
                                                               nt_samples_batch_size=nt_samples, stdevs=nt_stdev,
                                                               target=target, abs=True)
        elif method == "gradcam":
            lay = dict(net.named_modules())[_gradcam_layer(net, layer)]
            g = attr.LayerGradCam(net, lay).attribute(x, target=target, relu_attributions=True)
            a = attr.LayerAttribution.interpolate(g, tuple(x.shape[2:]), interpolate_mode="bilinear")
            a = a.expand_as(x)
        elif method == "monai_gradcam":
            from monai.visualize import GradCAM

            # MONAI's default post-processing maps (min, max) to (1, 0): it *flips* the map. Keep it raw.
            cam = GradCAM(nn_module=net, target_layers=_gradcam_layer(net, layer), postprocessing=lambda m: m)
            a = cam(x, class_idx=target).expand_as(x)
        elif method == "occlusion":
            c = x.shape[1]
            a = attr.Occlusion(prob).attribute(x, sliding_window_shapes=(c, window, window), strides=(c, stride, stride),
                                               baselines=baseline, target=target, perturbations_per_eval=64)
        elif method == "monai_occlusion":
            from monai.visualize import OcclusionSensitivity

            occ = OcclusionSensitivity(net, mask_size=window, n_batch=64, verbose=False, mode=float(baseline),
                                       overlap=0.5, activate=True)
            with torch.no_grad(), warnings.catch_warnings():  # one image at a time; MONAI's indexing warns
                warnings.simplefilter("ignore", UserWarning)
                occ_map = torch.cat([occ(x[i:i + 1].detach())[0] for i in range(len(x))])
            # MONAI's map: the class's output with the patch around each pixel hidden (lower = more
            # important); its level is not exactly the unoccluded probability, so the map returned
            # is the drop from the least damaging occlusion of the image (positive = evidence).
            occ_t = occ_map[:, target:target + 1] / occ_map.sum(1, keepdim=True).clamp_min(1e-12)
            a = (occ_t.amax((2, 3), keepdim=True) - occ_t).expand_as(x)
        else:  # lime, kernel_shap on superpixels
            from captum._utils.models.linear_model import SkLearnLinearRegression

            seg = superpixels(x.detach().cpu(), n_segments).to(dev).expand_as(x)
            parts = []
            for i in range(len(x)):  # captum perturbs one image at a time with a feature mask
                xi, mi = x[i:i + 1].detach(), seg[i:i + 1]
                if method == "lime":
                    explainer = attr.Lime(prob, interpretable_model=SkLearnLinearRegression())
                else:
                    explainer = attr.KernelShap(prob)
                parts.append(explainer.attribute(xi, target=target, feature_mask=mi, n_samples=n_samples,
                                                 baselines=baseline, perturbations_per_eval=64))
            a = torch.cat(parts)
        out.append(a.detach().float().cpu())
    return torch.cat(out).numpy().astype(np.float32)


def score_methods(model, images, masks, methods=METHODS, *, progress: bool = False, **kw):
    """Pointing game, relevance mass and run time of each method on images whose lesion is known.

    Args:
        model: as in :func:`explain`.
        images: ``(N, C, H, W)`` images that each contain a lesion.
        masks: ``(N, H, W)`` boolean lesion masks.
        methods: methods to score.
        progress: a tqdm bar over methods.
        **kw: passed to :func:`explain`.

    Returns:
        ``(table, maps)``: a ``pandas.DataFrame`` indexed by method with ``pointing_game``,
        ``relevance_mass``, ``mass_over_chance`` (relevance mass / mask area fraction) and
        ``seconds_per_image``; ``{method: (N, C, H, W) maps}``.
    """
    import pandas as pd

    from medbench.metrics.attribution import mask_area_fraction, pointing_game, relevance_mass

    masks = np.asarray(masks).astype(bool)
    chance = mask_area_fraction(masks)
    rows, maps = {}, {}
    it = methods
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(methods, desc="methods")
    for m in it:
        t0 = time.perf_counter()
        a = explain(model, images, m, **kw)
        dt = (time.perf_counter() - t0) / max(len(a), 1)
        a2 = a.sum(1)  # channels summed: one map per image
        rm = relevance_mass(a2, masks)
        rows[m] = {"pointing_game": pointing_game(a2, masks), "relevance_mass": rm,
                   "mass_over_chance": rm / chance, "seconds_per_image": dt}
        maps[m] = a
    return pd.DataFrame(rows).T, maps


# ---------------------------------------------------------------------------- sanity checks
def _weighted_layers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """Convolution and linear layers, input to output."""
    return [(n, m) for n, m in net.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]


def cascading_randomisation(model, seed: int = 0) -> list[tuple[str, nn.Module]]:
    """Copies of the network with its weighted layers re-initialised cumulatively from the top.

    Adebayo et al. (2018): step ``k`` re-initialises the ``k`` layers nearest the output (with
    the layers' own ``reset_parameters``); normalisation layers keep their statistics.

    Returns:
        ``[(name of the last layer randomised, randomised copy), ...]``, output layer first,
        the last entry fully randomised.
    """
    net = _net(model)
    names = [n for n, _ in _weighted_layers(net)][::-1]
    if not names:
        raise ConfigError("the network has no convolution or linear layer to randomise")
    torch.manual_seed(seed)
    out, cur = [], copy.deepcopy(net)
    for n in names:
        cur = copy.deepcopy(cur)
        dict(cur.named_modules())[n].reset_parameters()
        out.append((n, cur.eval()))
    return out


def randomisation_table(model, images, methods=GRADIENT_METHODS, *, shuffled_model=None, seed: int = 0,
                        **kw):
    """Spearman correlation of each method's maps on randomised models with its maps on the trained one.

    Args:
        model: the trained model (as in :func:`explain`).
        images: ``(N, C, H, W)``.
        methods: methods to check.
        shuffled_model: optionally the same architecture trained on shuffled labels (row
            ``"shuffled labels"``).
        seed: seed of the re-initialisation.
        **kw: passed to :func:`explain`.

    Returns:
        ``pandas.DataFrame``, one row per cascading step (``"up to <layer>"``, output first; the
        last row is the fully randomised network) plus ``"shuffled labels"``, one column per method.
        Near 1: the map hardly depends on the weights (it explains the image, not the model).
    """
    import pandas as pd

    from medbench.metrics.attribution import rank_correlation

    x = model_inputs(model, images).numpy()  # randomised copies are bare modules: same input space
    ref = {m: explain(model, images, m, seed=seed, **kw).sum(1) for m in methods}
    rows = {}
    variants = [(f"up to {n}", net) for n, net in cascading_randomisation(model, seed)]
    if shuffled_model is not None:
        variants.append(("shuffled labels", _net(shuffled_model)))
    for name, net in variants:
        rows[name] = {m: rank_correlation(ref[m], explain(net, x, m, seed=seed, **kw).sum(1)) for m in methods}
    return pd.DataFrame(rows).T


# ---------------------------------------------------------------------------- the shortcut
def marker_mask(size: int, marker: int = 5, inset: int = 1) -> np.ndarray:
    """``(size, size)`` bool: where :func:`add_marker` burns its corner label (top-left in the array)."""
    m = np.zeros((size, size), bool)
    m[inset:inset + marker, inset:inset + marker] = True
    return m


def add_marker(images, present, *, marker: int = 5, inset: int = 1, hu: float = 1500.0) -> np.ndarray:
    """Burn a scanner's corner label into the images where ``present`` (a copy is returned).

    The label is a bright hollow square with a dot in its middle (like a letter burned in by
    one scanner's software), ``marker`` pixels wide, ``inset`` pixels from the corner.

    Args:
        images: ``(N, 1, H, W)`` HU.
        present: ``(N,)`` bool.
        marker, inset: side and inset of the label (pixels).
        hu: the label's intensity (brighter than any tissue in the window).
    """
    x = np.array(images, dtype=np.float32, copy=True)
    present = np.asarray(present, bool)
    if x.ndim != 4 or present.shape != (len(x),):
        raise DataError(f"images must be (N, 1, H, W) and present (N,), got {x.shape} and {present.shape}")
    ring = marker_mask(x.shape[-1], marker, inset) & ~marker_mask(x.shape[-1], marker - 2, inset + 1)
    ring[inset + marker // 2, inset + marker // 2] = True  # a dot in the middle
    for i in np.flatnonzero(present):
        x[i, :, ring] = hu
    return x


def shortcut_experiment(clf, train, test, *, p_marker: tuple[float, float] = (0.05, 0.9),
                        p_marker_clean: float = 0.0, method: str = "occlusion", n_explain: int = 40,
                        n_boot: int = 500, seed: int = 0, explain_kw: dict | None = None) -> dict:
    """Train with a marker that goes with the label, catch it by its attribution mass, retrain clean.

    Training (and the first test set) burn the marker into a patch with probability
    ``p_marker[label]``; "marker removed" scores the same test patches without any marker.
    The clean model is trained on the same patches with the marker burned in with probability
    ``p_marker_clean`` whatever the label: 0 = no marker at all; e.g. 0.5 = the marker is
    seen in training but carries no information (the control that asks whether the model
    *uses* the marker, not whether a never-seen bright object moves its output).

    Args:
        clf: an unfitted :class:`~medbench.tasks.classification.ImageClassifier` template.
        train, test: :class:`~medbench.tasks.classification.Split` (HU patches, binary labels).
        p_marker: probability of the marker in a class-0 and a class-1 patch.
        p_marker_clean: probability of the marker in any clean training patch (independent of the label).
        method: the attribution method whose mass on the marker is measured.
        n_explain: marked test patches explained.
        n_boot: patient-bootstrap resamples of the AUROC drop.
        seed: seed of the marker draws, the models and the bootstrap.
        explain_kw: passed to :func:`explain`.

    Returns:
        dict with ``auroc_with_marker``, ``auroc_marker_removed``, ``drop`` / ``drop_ci_low`` /
        ``drop_ci_high`` (paired over the same test patients), ``clean_auroc``,
        ``shortcut_attribution_on_marker``, ``clean_attribution_on_marker``, ``marker_area_fraction``,
        the two fitted models and the explained marked images and maps (``images``, ``maps_shortcut``, ``maps_clean``).
    """
    from medbench.metrics import auroc, paired_bootstrap_diff
    from medbench.metrics.attribution import relevance_mass

    rng = np.random.default_rng(seed)
    p = np.asarray(p_marker, float)
    if p.shape != (2,) or not ((p >= 0) & (p <= 1)).all() or not 0.0 <= p_marker_clean <= 1.0:
        raise ConfigError(f"p_marker (got {p_marker}) must be two probabilities and p_marker_clean "
                          f"(got {p_marker_clean}) one, in [0, 1]")
    y_tr, y_te = np.asarray(train.labels), np.asarray(test.labels)
    x_tr = add_marker(train.images, rng.random(len(y_tr)) < p[y_tr])
    mark_te = rng.random(len(y_te)) < p[y_te]
    x_te = add_marker(test.images, mark_te)
    hans = clf.clone(seed=seed).fit(x_tr, y_tr, train.groups)
    x_clean = add_marker(train.images, rng.random(len(y_tr)) < p_marker_clean)
    clean = clf.clone(seed=seed).fit(x_clean, y_tr, train.groups)
    s_mark, s_clean = hans.predict_score(x_te), hans.predict_score(test.images)
    drop, lo, hi = paired_bootstrap_diff(auroc, y_te, s_mark, s_clean, n_boot=n_boot, seed=seed, groups=test.groups)
    # the explained patches: marked ones, positives first (the class whose evidence is asked for)
    idx = np.flatnonzero(mark_te)
    idx = idx[np.argsort(-y_te[idx], kind="stable")][:n_explain]
    if len(idx) == 0:
        raise DataError("no test patch carries the marker: raise p_marker or the test size")
    mm = np.broadcast_to(marker_mask(x_te.shape[-1]), (len(idx),) + x_te.shape[-2:])
    kw = dict(explain_kw or {})
    a_hans = explain(hans, x_te[idx], method, seed=seed, **kw)
    a_clean = explain(clean, x_te[idx], method, seed=seed, **kw)
    return {"auroc_with_marker": auroc(y_te, s_mark), "auroc_marker_removed": auroc(y_te, s_clean),
            "drop": drop, "drop_ci_low": lo, "drop_ci_high": hi,
            "clean_auroc": auroc(y_te, clean.predict_score(test.images)),
            "shortcut_attribution_on_marker": relevance_mass(a_hans.sum(1), mm),
            "clean_attribution_on_marker": relevance_mass(a_clean.sum(1), mm),
            "marker_area_fraction": float(mm[0].mean()), "model_shortcut": hans, "model_clean": clean,
            "images": x_te[idx], "labels": y_te[idx], "maps_shortcut": a_hans, "maps_clean": a_clean}
