"""MONAI Bundle export: files, metadata, and offline inference that reproduces medbench's evaluation."""
from __future__ import annotations

import json
import socket

import numpy as np
import pytest
import torch

from medbench.cli import main as cli_main
from medbench.errors import CheckpointError, DataNotFoundError
from medbench.metrics.segmentation import dice_hd95
from medbench.models import make_model
from medbench.models.bundle import export_bundle, export_run, network_config
from medbench.tasks.segmentation import CT_CHANNELS, SegConfig, evaluate, make_loaders, predict_volume, run
from medbench.transforms import CT_WINDOWS

TINY = dict(n_train=3, n_val=1, n_test=1, shape=(24, 24, 16), spacing=(16.0, 16.0, 20.0), channels=(8, 16), strides=(2,),
            roi_size=(16, 16, 16), num_samples=1, batch_size=2, epochs=2, precision="fp32", sw_batch_size=2)


@pytest.fixture(scope="module")
def trained():
    """A tiny phantom model trained long enough (20 epochs, ~10 s) to segment lungs, heart and liver."""
    return run(SegConfig(**{**TINY, "epochs": 20, "lr": 1e-2}))


@pytest.fixture
def offline(monkeypatch):
    """Any network connection fails: the bundle must load and run without downloads."""
    def refuse(*args, **kwargs):
        raise OSError("network access during an offline bundle test")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def _parser(bundle, out_dir):
    from monai.bundle import ConfigParser

    p = ConfigParser()
    p.read_config(str(bundle / "configs" / "inference.json"))
    p.read_meta(str(bundle / "configs" / "metadata.json"))
    p["bundle_root"], p["output_dir"] = str(bundle), str(out_dir)
    return p


def test_bundle_layout_metadata_and_config(trained, tmp_path):
    from monai.bundle.properties import InferProperties
    from monai.bundle.utils import ID_SEP_KEY

    bundle = export_bundle(trained.model, trained.cfg, trained.data, tmp_path / "b", metrics=trained.metrics)
    for f in ("configs/metadata.json", "configs/inference.json", "models/model.pt", "docs/README.md"):
        assert (bundle / f).is_file(), f
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    for key in ("version", "monai_version", "pytorch_version", "numpy_version", "required_packages_version", "task",
                "description", "authors", "copyright", "intended_use", "data_source", "network_data_format"):
        assert meta[key], key
    assert "nibabel" in meta["required_packages_version"] and "BSD-3-Clause" in meta["data_source"]
    image, pred = meta["network_data_format"]["inputs"]["image"], meta["network_data_format"]["outputs"]["pred"]
    assert image["num_channels"] == 2 and image["spatial_shape"] == [16, 16, 16] and image["is_patch_data"]
    assert set(image) >= {"type", "format", "dtype", "value_range", "channel_def"}
    assert pred["num_channels"] == 8 and pred["channel_def"]["0"] == "background"
    assert pred["channel_def"]["1"] == "lung_left"
    assert meta["eval_metrics"]["mean_dice"] == pytest.approx(trained.metrics["mean_dice"])

    cfg = json.loads((bundle / "configs" / "inference.json").read_text())
    # every required inference property of MONAI's ConfigWorkflow, and optional ones under their standard ids
    for name, prop in InferProperties.items():
        if prop["required"]:
            assert prop["id"] in cfg, name
        elif prop.get("refer_id") and name in cfg:
            section, key = prop["refer_id"].split(ID_SEP_KEY)
            assert cfg[section][key] == "@" + prop["id"], name
    assert cfg["handlers"][0] == {"_target_": "CheckpointLoader", "load_path": "@ckpt_path",
                                  "load_dict": {"model": "@network"}, "map_location": "@device"}
    assert cfg["network_def"] == {"_target_": "monai.networks.nets.UNet", "spatial_dims": 3, "in_channels": 2,
                                  "out_channels": 8, "channels": [8, 16], "strides": [2], "num_res_units": 1,
                                  "norm": "batch"}
    steps = cfg["preprocessing"]["transforms"]
    assert [s["_target_"] for s in steps] == [
        "LoadImaged", "Orientationd", "Spacingd", "CopyItemsd", "ScaleIntensityRanged", "ScaleIntensityRanged",
        "ConcatItemsd", "DeleteItemsd", "EnsureTyped"]
    windows = [(s["a_min"], s["a_max"]) for s in steps if s["_target_"] == "ScaleIntensityRanged"]
    assert windows == [(CT_WINDOWS[w].lower, CT_WINDOWS[w].upper) for w in CT_CHANNELS]  # from the same presets
    assert steps[2]["pixdim"] == [16.0, 16.0, 20.0]
    assert cfg["inferer"] == {"_target_": "SlidingWindowInferer", "roi_size": [16, 16, 16], "sw_batch_size": 2,
                              "overlap": 0.25, "mode": "gaussian"}
    assert [s["_target_"] for s in cfg["postprocessing"]["transforms"]] == [
        "AsDiscreted", "KeepLargestConnectedComponentd", "Invertd", "SaveImaged"]
    readme = (bundle / "docs" / "README.md").read_text()
    assert "| 7 | kidney_right |" in readme and "synthetic" in readme and "16.0, 16.0, 20.0" in readme
    assert f"on {trained.cfg.n_test} test volume(s)" in readme  # the Dice it quotes is the test set's
    assert len(readme.splitlines()) < 200


def test_bundle_runs_offline_and_reproduces_medbench(trained, tmp_path, offline):
    import nibabel as nib
    from monai.data import decollate_batch, list_data_collate

    bundle = export_bundle(trained.model, trained.cfg, trained.data, tmp_path / "b", metrics=trained.metrics)
    case = trained.data.val[0]
    nifti = tmp_path / "phantom.nii.gz"  # the validation phantom as a user would have it: one NIfTI in HU
    nib.save(nib.Nifti1Image(np.asarray(case["image"][0]), np.asarray(case["image"].affine)), nifti)

    p = _parser(bundle, tmp_path / "eval")
    net = p.get_parsed_content("network_def")
    net.load_state_dict(torch.load(bundle / "models" / "model.pt", map_location="cpu", weights_only=True))
    net.eval()
    pre, inferer, post = (p.get_parsed_content(k) for k in ("preprocessing", "inferer", "postprocessing"))

    _, _, val_ds = make_loaders(trained.data, trained.cfg)
    d = pre({"image": str(nifti)})
    assert torch.equal(torch.as_tensor(d["image"]), torch.as_tensor(val_ds[0]["image"]))  # same preprocessing
    batch = list_data_collate([d])  # what the bundle's SupervisedEvaluator does
    with torch.no_grad():
        batch["pred"] = inferer(batch["image"], net)
    ref_logits = predict_volume(trained.model, val_ds[0]["image"], precision="fp32")
    torch.testing.assert_close(torch.as_tensor(batch["pred"][0]), ref_logits, rtol=1e-5, atol=1e-5)
    item = post(decollate_batch(batch)[0])
    pred = torch.as_tensor(item["pred"]).to(torch.uint8)

    result = evaluate(trained.model, val_ds, trained.data.structures, trained.data.spacing,
                      keep_largest=trained.cfg.keep_largest, precision="fp32")
    assert torch.equal(pred, result.predictions[case["case"]])
    dice, _ = dice_hd95(pred, torch.as_tensor(case["label"]).to(torch.uint8), trained.data.n_classes,
                        trained.data.spacing)
    np.testing.assert_allclose(np.asarray(dice, dtype=float), result.table["dice"].to_numpy(), rtol=0, atol=1e-6)
    assert result.mean_dice > 0.2  # the check means something: the tiny net does segment organs
    saved = tmp_path / "eval" / "phantom_seg.nii.gz"  # SaveImaged wrote it on the input's grid
    assert np.array_equal(np.asarray(nib.load(saved).dataobj), pred[0].numpy())


def test_bundle_evaluator_runs_the_folder(trained, tmp_path, offline):
    """``python -m monai.bundle run`` minus ``fire``: the standard evaluator over dataset_dir (needs ignite)."""
    pytest.importorskip("ignite")
    import nibabel as nib
    from monai.bundle import ConfigWorkflow

    bundle = export_bundle(trained.model, trained.cfg, trained.data, tmp_path / "b")
    case = trained.data.val[0]
    (tmp_path / "data").mkdir()
    nib.save(nib.Nifti1Image(np.asarray(case["image"][0]), np.asarray(case["image"].affine)),
             tmp_path / "data" / "phantom.nii.gz")
    wf = ConfigWorkflow(config_file=str(bundle / "configs" / "inference.json"), logging_file=False,
                        meta_file=str(bundle / "configs" / "metadata.json"), workflow_type="infer",
                        bundle_root=str(bundle), dataset_dir=str(tmp_path / "data"), output_dir=str(tmp_path / "eval"))
    wf.initialize()
    assert wf.check_properties() == []
    wf.run()
    wf.finalize()
    _, _, val_ds = make_loaders(trained.data, trained.cfg)
    ref = evaluate(trained.model, val_ds, trained.data.structures, trained.data.spacing, precision="fp32")
    saved = np.asarray(nib.load(tmp_path / "eval" / "phantom_seg.nii.gz").dataobj)
    assert np.array_equal(saved, ref.predictions[case["case"]][0].numpy())


@pytest.mark.parametrize("name, roi", [("unet", (16, 16, 16)), ("basicunet", (16, 16, 16)), ("unetr", (16, 16, 16)),
                                       ("swinunetr", (64, 64, 64))])
def test_network_def_builds_medbench_nets(name, roi):
    from monai.bundle import ConfigParser

    kw = dict(roi_size=roi, channels=(8, 16), strides=(2,), num_res_units=1)
    ours = make_model(name, spatial_dims=3, in_channels=2, num_classes=4, **kw)
    theirs = ConfigParser({"n": network_config({"model": name, **kw}, 2, 4)}).get_parsed_content("n")
    assert type(theirs) is type(ours)
    assert {k: v.shape for k, v in theirs.state_dict().items()} == {k: v.shape for k, v in ours.state_dict().items()}


def test_cli_trains_then_exports(tmp_path, capsys):
    import yaml

    cfg = {k: (list(v) if isinstance(v, tuple) else v) for k, v in {**TINY, "epochs": 1}.items()}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    run_dir, bundle = tmp_path / "run", tmp_path / "bundle"
    assert cli_main(["train", "segmentation", "--config", str(tmp_path / "tiny.yaml"), "--out", str(run_dir)]) == 0
    assert cli_main(["export", "bundle", "--run", str(run_dir), "--out", str(bundle)]) == 0
    assert str(bundle.resolve()) in capsys.readouterr().out
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    assert meta["eval_metrics"]["mean_dice"] == json.loads((run_dir / "metrics.json").read_text())["mean_dice"]
    p = _parser(bundle, tmp_path / "eval")
    net = p.get_parsed_content("network_def")
    state = torch.load(bundle / "models" / "model.pt", map_location="cpu", weights_only=True)
    net.load_state_dict(state)  # strict: the bare network's weights, no "net." prefix
    run_state = torch.load(run_dir / "model.pt", map_location="cpu", weights_only=True)["model"]
    assert all(torch.equal(v, run_state[f"net.{k}"]) for k, v in state.items())


def test_bad_run_folders_are_clear_errors(tmp_path, capsys):
    with pytest.raises(DataNotFoundError, match="medbench train segmentation"):
        export_run(tmp_path / "nowhere", tmp_path / "b")
    assert cli_main(["export", "bundle", "--run", str(tmp_path / "nowhere"), "--out", str(tmp_path / "b")]) == 2
    assert "model.pt does not exist" in capsys.readouterr().err
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        export_run(tmp_path / "junk", tmp_path / "b")
    (tmp_path / "other").mkdir()
    torch.save({"model": {}}, tmp_path / "other" / "model.pt")
    with pytest.raises(CheckpointError, match="not a segmentation run"):
        export_run(tmp_path / "other", tmp_path / "b")
    cfg = SegConfig(**TINY).to_dict()
    net = make_model("unet", spatial_dims=3, in_channels=2, num_classes=8, channels=(8, 16), strides=(2,))
    (tmp_path / "wide").mkdir()  # weights of a narrower net than the config says
    torch.save({"config": {**cfg, "channels": [16, 32]}, "structures": ["a"] * 7,
                "model": {f"net.{k}": v for k, v in net.state_dict().items()}}, tmp_path / "wide" / "model.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        export_run(tmp_path / "wide", tmp_path / "b")
    assert not (tmp_path / "b").exists()
