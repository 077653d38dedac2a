"""Export a trained 3D segmentation network as a MONAI Bundle (the way MONAI users share models).

:func:`export_bundle` writes::

    <out>/configs/metadata.json    MONAI bundle metadata (versions, network_data_format, data source)
    <out>/configs/inference.json   network_def, preprocessing, SlidingWindowInferer, postprocessing,
                                   evaluator (standard MONAI model-zoo layout)
    <out>/models/model.pt          the bare network's state_dict (loads into ``network_def``)
    <out>/docs/README.md           what it segments, label ids, input expectations, usage, limits

The bundle needs MONAI, PyTorch and nibabel, not medbench: its preprocessing is built from the
same window presets (:data:`medbench.transforms.CT_WINDOWS`) and steps as medbench's
``ct_3d_eval`` / ``mri_3d_eval`` pipelines, and :func:`export_bundle` checks that the weights
load strictly into the network the JSON describes. :func:`export_run` exports a
``medbench train segmentation`` output folder (``model.pt`` + ``metrics.json``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from medbench.data.segmentation import SegData
from medbench.errors import CheckpointError, ConfigError, DataNotFoundError
from medbench.transforms import CT_CHANNELS, get_window, in_channels_for

__all__ = ["export_bundle", "export_run", "inference_config", "metadata", "network_config", "preprocessing_config"]

META_SCHEMA = ("https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/"
               "meta_schema_20220324.json")
_IMG = "@image_key"


def _cfg_dict(cfg: Any) -> dict:
    return dict(cfg.to_dict() if hasattr(cfg, "to_dict") else cfg)


def network_config(cfg: Any, n_in: int, num_classes: int) -> dict:
    """``network_def``: the ``monai.networks.nets`` class and arguments :func:`segmentation_net` uses.

    Args:
        cfg: a ``SegConfig`` or its ``to_dict()`` (``model``, ``channels``, ``strides``,
            ``num_res_units``, ``roi_size``).
        n_in, num_classes: input channels and classes with background.
    """
    c = _cfg_dict(cfg)
    name, ch = c["model"], [int(v) for v in c["channels"]]
    common = {"in_channels": n_in, "out_channels": num_classes}
    if name == "unet":
        return {"_target_": "monai.networks.nets.UNet", "spatial_dims": 3, **common, "channels": ch,
                "strides": [int(s) for s in c["strides"]], "num_res_units": int(c["num_res_units"]), "norm": "batch"}
    if name == "basicunet":
        f = ch[:5] + [ch[0]] * (5 - len(ch[:5]))
        return {"_target_": "monai.networks.nets.BasicUNet", "spatial_dims": 3, **common, "features": f[:5] + [f[0]]}
    if name == "unetr":
        return {"_target_": "monai.networks.nets.UNETR", **common, "img_size": [int(r) for r in c["roi_size"]],
                "feature_size": ch[0], "hidden_size": 192, "mlp_dim": 768, "num_heads": 4}
    if name == "swinunetr":
        return {"_target_": "monai.networks.nets.SwinUNETR", **common, "feature_size": 12, "depths": [2, 2, 2, 2],
                "num_heads": [3, 6, 12, 24]}
    raise ConfigError(f"model {name!r} cannot be exported as a bundle; use unet, basicunet, unetr or swinunetr")


def preprocessing_config(modality: str, spacing: Sequence[float], *, windows: Sequence = CT_CHANNELS,
                         crop_foreground: bool = False) -> list[dict]:
    """The image steps of medbench's ``<modality>_3d_eval`` pipeline as bundle JSON, from a NIfTI file.

    ``LoadImaged`` -> ``Orientationd`` RAS -> ``Spacingd`` to the training ``spacing`` ->
    (``CropForegroundd`` on the body, as for MSD files) -> CT: one ``ScaleIntensityRanged`` per
    window, stacked as channels (``CopyItemsd`` / ``ConcatItemsd`` / ``DeleteItemsd``); MRI:
    z-score on non-zero voxels -> float32.
    """
    steps: list[dict] = [
        {"_target_": "LoadImaged", "keys": _IMG, "ensure_channel_first": True, "image_only": True},
        {"_target_": "Orientationd", "keys": _IMG, "axcodes": "RAS", "labels": [["L", "R"], ["P", "A"], ["I", "S"]]},
        {"_target_": "Spacingd", "keys": _IMG, "pixdim": [float(s) for s in spacing], "mode": "bilinear"},
    ]
    if crop_foreground:  # medbench.transforms._body (CT > -500 HU) / _nonzero (MRI)
        steps.append({"_target_": "CropForegroundd", "keys": _IMG, "source_key": _IMG, "margin": 2,
                      "allow_smaller": True, "select_fn": "$lambda x: x > -500" if modality == "ct" else
                      "$lambda x: x > 0"})
    if modality == "ct":
        wins = [get_window(w) for w in windows]
        copies = [f"image_window{i}" for i in range(1, len(wins))]  # as medbench.transforms.ct_window_channels
        keys = [_IMG] + copies
        if copies:
            steps.append({"_target_": "CopyItemsd", "keys": _IMG, "names": copies, "times": len(copies)})
        for k, w in zip(keys, wins):
            steps.append({"_target_": "ScaleIntensityRanged", "keys": k, "a_min": w.lower, "a_max": w.upper,
                          "b_min": 0.0, "b_max": 1.0, "clip": True})
        if copies:
            steps += [{"_target_": "ConcatItemsd", "keys": keys, "name": _IMG, "dim": 0},
                      {"_target_": "DeleteItemsd", "keys": copies}]
    elif modality == "mri":
        steps.append({"_target_": "NormalizeIntensityd", "keys": _IMG, "nonzero": True, "channel_wise": True})
    else:
        raise ConfigError(f"modality must be 'ct' or 'mri', got {modality!r}")
    steps.append({"_target_": "EnsureTyped", "keys": _IMG, "dtype": "$torch.float32"})
    return steps


def inference_config(cfg: Any, data: SegData, *, windows: Sequence = CT_CHANNELS) -> dict:
    """The bundle's ``configs/inference.json`` (MONAI model-zoo layout, ``evaluator`` needs pytorch-ignite)."""
    c = _cfg_dict(cfg)
    post: list[dict] = [{"_target_": "AsDiscreted", "keys": "pred", "argmax": True}]
    if c.get("keep_largest", True) and data.n_classes > 1:
        post.append({"_target_": "KeepLargestConnectedComponentd", "keys": "pred",
                     "applied_labels": list(range(1, data.n_classes)), "is_onehot": False, "independent": True,
                     "connectivity": 1})
    post += [
        {"_target_": "Invertd", "keys": "pred", "transform": "@preprocessing", "orig_keys": _IMG,
         "nearest_interp": True, "to_tensor": True},
        {"_target_": "SaveImaged", "keys": "pred", "output_dir": "@output_dir", "output_postfix": "seg",
         "output_dtype": "$numpy.uint8", "resample": False, "separate_folder": False},
    ]
    return {
        "imports": ["$import glob", "$import numpy", "$import os"],
        "bundle_root": ".",
        "image_key": "image",
        "output_dir": "$@bundle_root + '/eval'",
        "ckpt_path": "$@bundle_root + '/models/model.pt'",
        "dataset_dir": "$@bundle_root + '/data'",
        "datalist": "$list(sorted(glob.glob(os.path.join(@dataset_dir, '*.nii*'))))",
        "device": "$torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')",
        "network_def": network_config(c, in_channels_for(data.modality, windows), data.n_classes),
        "network": "$@network_def.to(@device)",
        "preprocessing": {"_target_": "Compose", "transforms": preprocessing_config(
            data.modality, data.spacing, windows=windows, crop_foreground=data.kind == "file")},
        "dataset": {"_target_": "Dataset", "data": "$[{'image': i} for i in @datalist]",
                    "transform": "@preprocessing"},
        "dataloader": {"_target_": "DataLoader", "dataset": "@dataset", "batch_size": 1, "shuffle": False,
                       "num_workers": 0},
        "inferer": {"_target_": "SlidingWindowInferer", "roi_size": [int(r) for r in c["roi_size"]],
                    "sw_batch_size": int(c.get("sw_batch_size", 4)), "overlap": float(c.get("overlap", 0.25)),
                    "mode": "gaussian"},
        "postprocessing": {"_target_": "Compose", "transforms": post},
        "handlers": [{"_target_": "CheckpointLoader", "load_path": "@ckpt_path",
                      "load_dict": {"model": "@network"}, "map_location": "@device"},
                     {"_target_": "StatsHandler", "iteration_log": False}],
        "evaluator": {"_target_": "SupervisedEvaluator", "device": "@device", "val_data_loader": "@dataloader",
                      "network": "@network", "inferer": "@inferer", "postprocessing": "@postprocessing",
                      "val_handlers": "@handlers", "amp": False},
        "initialize": ["$monai.utils.set_determinism(seed=0)"],
        "run": ["$@evaluator.run()"],
    }


def _channel_def(modality: str, windows: Sequence) -> dict:
    if modality != "ct":
        return {"0": "MRI, z-score normalised over non-zero voxels"}
    return {str(i): f"CT {get_window(w)} window, HU scaled to [0, 1] and clipped" for i, w in enumerate(windows)}


def metadata(cfg: Any, data: SegData, *, windows: Sequence = CT_CHANNELS, metrics: Mapping | None = None,
             version: str = "0.1.0") -> dict:
    """The bundle's ``configs/metadata.json`` (fields of the MONAI model-zoo metadata schema)."""
    import monai
    import numpy

    import medbench

    c = _cfg_dict(cfg)
    roi = [int(r) for r in c["roi_size"]]
    classes = {"0": "background", **{str(i): s for i, s in enumerate(data.structures, start=1)}}
    synthetic = data.kind == "array"
    try:
        import nibabel
        required = {"nibabel": nibabel.__version__}
    except ImportError:  # pragma: no cover - medbench depends on nibabel
        required = {}
    meta = {
        "schema": META_SCHEMA,
        "version": version,
        "changelog": {version: f"exported by medbench {medbench.__version__} (medbench export bundle)"},
        "monai_version": monai.__version__,
        "pytorch_version": torch.__version__.split("+")[0],
        "numpy_version": numpy.__version__,
        "required_packages_version": required,
        "name": f"medbench {data.modality.upper()} multi-structure segmentation ({c['model']})",
        "task": f"3D {data.modality.upper()} segmentation of {', '.join(data.structures)}",
        "description": (f"A {c['model']} trained by medbench (chapter 03) on {c.get('n_train')} "
                        f"{'synthetic ' if synthetic else ''}volumes for {c.get('epochs')} epochs; "
                        "sliding-window inference, argmax"
                        + (" and largest connected component per structure" if c.get("keep_largest", True) else "")),
        "authors": "medbench contributors",
        "copyright": "Copyright (c) medbench contributors; BSD-3-Clause",
        "data_source": data.source or str(c.get("dataset")),
        "data_type": "nibabel",
        "image_classes": f"{in_channels_for(data.modality, windows)} channels: "
                         + "; ".join(_channel_def(data.modality, windows).values()),
        "label_classes": "single channel, " + ", ".join(f"{k} is {v}" for k, v in classes.items()),
        "pred_classes": f"{data.n_classes} channels of logits (argmax gives the label ids)",
        "eval_metrics": {k: float(v) for k, v in (metrics or {}).items() if k == "mean_dice" or k.startswith("dice_")},
        "intended_use": ("Teaching and software testing only; trained on synthetic data, not for clinical or "
                         "diagnostic use" if synthetic else "Research and teaching only, not for diagnostic use"),
        "references": ["Kerfoot E. et al. (2019) Left-Ventricle Quantification Using Residual U-Net. STACOM 2018, "
                       "LNCS 11395. https://doi.org/10.1007/978-3-030-12029-0_40"] if c["model"] == "unet" else [],
        "network_data_format": {
            "inputs": {"image": {
                "type": "image", "format": "hounsfield" if data.modality == "ct" else "magnitude",
                "modality": data.modality.upper() if data.modality == "ct" else "MR",
                "num_channels": in_channels_for(data.modality, windows), "spatial_shape": roi, "dtype": "float32",
                "value_range": [0, 1] if data.modality == "ct" else [], "is_patch_data": True,
                "channel_def": _channel_def(data.modality, windows)}},
            "outputs": {"pred": {
                "type": "image", "format": "segmentation", "num_channels": data.n_classes, "spatial_shape": roi,
                "dtype": "float32", "value_range": [], "is_patch_data": True, "channel_def": classes}},
        },
    }
    if "medbench.data.phantom" in meta["data_source"]:
        meta["data_source"] += "; licence: BSD-3-Clause (medbench), synthetic, no patient data"
    return meta


def _readme(cfg: dict, data: SegData, meta: dict, windows: Sequence) -> str:
    rows = "\n".join(f"| {k} | {v} |" for k, v in meta["network_data_format"]["outputs"]["pred"]["channel_def"].items())
    dice = "\n".join(f"- {k}: {float(v):.3f}" for k, v in meta["eval_metrics"].items()) or "- not measured"
    if meta["eval_metrics"]:
        dice = (f"Measured by medbench on {cfg.get('n_test')} test volume(s) that played no part in training or "
                f"model selection, after post-processing, at the run's precision ({cfg.get('precision')}):\n\n{dice}")
    unit = "HU" if data.modality == "ct" else "MRI intensities"
    limit = (f"Trained on {cfg.get('n_train')} synthetic volumes generated by medbench, not on patients: expect it "
             "to fail on real scans." if data.kind == "array" else f"Trained on {cfg.get('n_train')} cases only.")
    channels = "\n".join(f"- channel {k}: {v}" for k, v in _channel_def(data.modality, windows).items())
    return f"""# {meta['name']}

{meta['description']}.

## Labels

| id | structure |
|---|---|
{rows}

## Input

One {data.modality.upper()} volume per NIfTI file, in {unit}, any orientation: the preprocessing reorients it
to RAS and resamples it to {tuple(data.spacing)} mm (the spacing the network was trained at), then gives the
network:

{channels}

The network sees {tuple(cfg['roi_size'])} windows (sliding window, overlap {cfg.get('overlap', 0.25)}, gaussian
blending); predictions are inverted back to the input's grid and orientation.

## Run

Offline, with MONAI, PyTorch and nibabel (no medbench needed):

```python
from monai.bundle import ConfigParser
import torch

p = ConfigParser(); p.read_config("configs/inference.json"); p.read_meta("configs/metadata.json")
p["bundle_root"] = "."
net = p.get_parsed_content("network_def")
net.load_state_dict(torch.load("models/model.pt", map_location="cpu")); net.eval()
pre, inferer, post = (p.get_parsed_content(k) for k in ("preprocessing", "inferer", "postprocessing"))
d = pre({{"image": "case.nii.gz"}})
with torch.no_grad():
    d["pred"] = inferer(d["image"][None], net)[0]
d = post(d)  # label map in d["pred"], also written to ./eval/case_seg.nii.gz
```

Or the whole folder `data/*.nii*` with the standard evaluator (needs `pytorch-ignite`, and `fire` for the
command line): `python -m monai.bundle run --config_file configs/inference.json --meta_file
configs/metadata.json --dataset_dir /path/to/niftis`.

## Validation Dice

{dice}

## Limits

- {limit}
- Runs in float32; medbench may have evaluated in bf16 on a GPU (differences of a few voxels).
- Data: {meta['data_source']}.
- {meta['intended_use']}.
"""


def export_bundle(model: nn.Module, cfg: Any, data: SegData, out_dir: str | os.PathLike, *,
                  metrics: Mapping[str, float] | None = None, windows: Sequence = CT_CHANNELS,
                  version: str = "0.1.0") -> Path:
    """Write a trained segmentation network as a MONAI Bundle folder.

    Args:
        model: a :class:`~medbench.models.segmentation.SlidingWindowModel` (its ``net`` is
            exported) or the bare network.
        cfg: the run's ``SegConfig`` (or its ``to_dict()``): network, ROI, overlap, keep_largest.
        data: the run's :class:`~medbench.data.segmentation.SegData` (structures, modality,
            spacing, source; its case lists may be empty).
        out_dir: bundle folder (created; existing files are overwritten).
        metrics: measured metrics (``mean_dice``, ``dice_<structure>``) for metadata and README.
        windows: CT windows stacked as channels (medbench's ``CT_CHANNELS``).

    Returns:
        The bundle folder.

    Raises:
        ConfigError: the network cannot be described in JSON or does not accept the weights.
    """
    from monai.bundle import ConfigParser

    c = _cfg_dict(cfg)
    net = getattr(model, "net", model)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    infer = inference_config(c, data, windows=windows)
    try:  # the JSON network must take these weights as they are
        ConfigParser({"network_def": infer["network_def"]}).get_parsed_content("network_def").load_state_dict(state)
    except RuntimeError as exc:
        raise ConfigError(f"the bundle's network_def {infer['network_def']['_target_']} does not accept the "
                          f"weights of model {c['model']!r}: {exc}") from exc
    meta = metadata(c, data, windows=windows, metrics=metrics, version=version)
    out = Path(out_dir)
    for sub in ("configs", "models", "docs"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    (out / "configs" / "inference.json").write_text(json.dumps(infer, indent=4) + "\n")
    (out / "configs" / "metadata.json").write_text(json.dumps(meta, indent=4) + "\n")
    torch.save(state, out / "models" / "model.pt")
    (out / "docs" / "README.md").write_text(_readme(c, data, meta, windows))
    return out


def export_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike, **kw) -> Path:
    """Export a ``medbench train segmentation`` output folder (``model.pt``, ``metrics.json``) as a bundle.

    Raises:
        DataNotFoundError: no ``model.pt`` in ``run_dir``. CheckpointError: ``model.pt`` is not a
        segmentation run (needs ``config``, ``structures``, ``model``) or its weights do not fit.
    """
    from medbench.models import make_model
    from medbench.models.segmentation import SlidingWindowModel

    run = Path(run_dir)
    path = run / "model.pt"
    if not path.is_file():
        raise DataNotFoundError(f"{path} does not exist; --run must be an output folder of "
                                "`medbench train segmentation` (with model.pt and metrics.json)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path} cannot be read ({type(exc).__name__}: {exc}); retrain with "
                              "`medbench train segmentation`") from exc
    if not isinstance(ckpt, dict) or not {"config", "structures", "model"} <= set(ckpt):
        raise CheckpointError(f"{path} is not a segmentation run: it needs 'config', 'structures' and 'model' "
                              "entries (written by `medbench train segmentation`)")
    c, structures = dict(ckpt["config"]), tuple(ckpt["structures"])
    info = ckpt.get("data")
    if info is None:  # written before model.pt recorded its data: only the phantom's is known from the config
        if c.get("dataset") != "phantom":
            raise CheckpointError(f"{path} does not record its modality and spacing; retrain with "
                                  "`medbench train segmentation` to export it")
        info = {"modality": "ct", "kind": "array", "spacing": c["spacing"], "source": "medbench.data.phantom"}
    data = SegData([], [], structures, info["modality"], info["kind"], tuple(info["spacing"]), info.get("source", ""))
    windows = kw.get("windows", CT_CHANNELS)
    net = make_model(c["model"], spatial_dims=3, in_channels=in_channels_for(data.modality, windows),
                     num_classes=data.n_classes, roi_size=c["roi_size"], channels=c["channels"],
                     strides=c["strides"], num_res_units=c["num_res_units"])
    model = SlidingWindowModel(net, c["roi_size"], c.get("overlap", 0.25), c.get("sw_batch_size", 4))
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: the weights do not fit the config's {c['model']} network: {exc}") from exc
    metrics = None
    if (run / "metrics.json").is_file():
        metrics = json.loads((run / "metrics.json").read_text())
    return export_bundle(model, c, data, out_dir, metrics=metrics, **kw)
