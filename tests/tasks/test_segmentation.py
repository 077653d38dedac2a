"""3D segmentation pipeline: sliding-window inference, metrics, post-processing, data sources, entry point."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from medbench.cli import main as cli_main
from medbench.errors import ConfigError, DataNotFoundError
from medbench.tasks.segmentation import SegConfig, build_dataset, config_from_parameters, make_loaders, run
from medbench.transforms import labels_from_logits

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(n_train=3, n_val=1, n_test=1, shape=(24, 24, 16), spacing=(16.0, 16.0, 20.0), channels=(8, 16), strides=(2,),
            roi_size=(16, 16, 16), num_samples=1, batch_size=2, epochs=1, precision="fp32", sw_batch_size=2)


def test_postprocess_argmax_and_largest_component():
    logits = torch.zeros(3, 12, 12, 12)
    logits[0] = 1.0
    logits[1, 2:6, 2:6, 2:6] = 5.0  # organ 1: a cube ...
    logits[1, 10, 10, 10] = 5.0  # ... and a stray voxel far away
    logits[2, 8:11, 1:3, 1:3] = 5.0  # organ 2: one component
    pred = labels_from_logits(logits, 3, keep_largest=True)
    assert pred.shape == (1, 12, 12, 12) and pred.dtype == torch.uint8
    assert int((pred == 1).sum()) == 64 and pred[0, 10, 10, 10] == 0
    assert int((pred == 2).sum()) == 12
    raw = labels_from_logits(logits, 3, keep_largest=False)
    assert raw[0, 10, 10, 10] == 1


def test_phantom_dataset_and_label_balanced_crops():
    cfg = SegConfig(**TINY)
    data = build_dataset(cfg)
    assert data.structures[:2] == ("lung_left", "lung_right") and data.n_classes == 8
    assert len(data.train) == 3 and len(data.val) == 1
    lab = data.train[0]["label"]
    assert lab.shape == (1, 24, 24, 16) and int(lab.max()) <= 7 and len(np.unique(np.asarray(lab))) >= 5
    train_loader, _, val_ds = make_loaders(data, cfg)
    batch = next(iter(train_loader))
    assert batch["image"].shape == (2, 2, 16, 16, 16)  # 2 channels: soft-tissue and lung windows
    assert -0.1 <= float(batch["image"].min()) and float(batch["image"].max()) <= 1.1  # windows + small shift
    assert val_ds[0]["image"].shape == (2, 24, 24, 16)
    with pytest.raises(ConfigError, match="unknown phantom structure"):
        build_dataset(SegConfig(**{**TINY, "structures": ("liver", "pancreas")}))


def test_config_validation(tmp_path):
    with pytest.raises(ConfigError, match="valid keys"):
        SegConfig.from_dict({"epochz": 3})
    with pytest.raises(ConfigError, match="model"):
        SegConfig(model="vnet9")
    with pytest.raises(ConfigError, match="dataset"):
        build_dataset(SegConfig(dataset="imagenet"))
    with pytest.raises(DataNotFoundError, match="config"):
        SegConfig.from_yaml(tmp_path / "missing.yaml")
    p = tmp_path / "c.yaml"
    p.write_text("epochs: 3\nroi_size: [32, 32, 16]\n")
    cfg = SegConfig.from_yaml(p)
    assert cfg.epochs == 3 and cfg.roi_size == (32, 32, 16)
    # --set values are parsed as Python literals first: YAML 1.1 would read 2e-3 as a string
    cfg = SegConfig.from_yaml(p, ["lr=2e-3", "scheduler=None", "roi_size=[32, 32, 24]"])
    assert cfg.lr == 2e-3 and isinstance(cfg.lr, float) and cfg.scheduler is None and cfg.roi_size == (32, 32, 24)
    with pytest.raises(ConfigError, match="lr must be a positive number"):
        SegConfig.from_yaml(p, ["lr=fast"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        SegConfig.from_yaml(p, ["epochs"])


def test_tiny_phantom_run_records_every_metric():
    out = run(SegConfig(**TINY))
    m = out.metrics
    assert set(m) >= {"mean_dice", "mean_hd95_mm", "train_seconds", "inference_seconds_per_volume"}
    assert {f"dice_{s}" for s in out.data.structures} <= set(m)
    assert 0.0 <= m["mean_dice"] <= 1.0
    assert len(out.result.table) == len(out.data.structures) * 1
    assert {"val_mean_dice", "atlas_mean_dice", "n_missed_organs"} <= set(m)
    pred = next(iter(out.result.predictions.values()))
    assert pred.shape == (1, 24, 24, 16)


def test_brain_path_segments_mri_tissues():
    """dataset="brain": deformed MNI152 T1 volumes, 1 z-scored MRI channel, CSF / grey / white matter."""
    cfg = SegConfig(**{**TINY, "dataset": "brain", "brain_shape": (24, 28, 24), "n_train": 2, "n_val": 1})
    data = build_dataset(cfg)
    assert data.structures == ("csf_other", "grey_matter", "white_matter") and data.n_classes == 4
    assert data.modality == "mri" and data.kind == "array"
    assert len(data.train) == 2 and len(data.val) == 1
    lab = np.asarray(data.train[0]["label"])
    assert lab.shape == (1, 24, 28, 24) and set(np.unique(lab)) == {0, 1, 2, 3}
    # different subjects: the deformations differ
    assert not np.array_equal(lab, np.asarray(data.train[1]["label"]))
    train_loader, _, val_ds = make_loaders(data, cfg)
    batch = next(iter(train_loader))
    assert batch["image"].shape == (2, 1, 16, 16, 16)  # one MRI channel
    img = np.asarray(val_ds[0]["image"])[0]
    head = img[img != 0]  # z-scored over the non-zero (head) voxels; the air stays 0
    assert abs(float(head.mean())) < 1e-3 and float(head.std()) == pytest.approx(1.0, abs=1e-3)
    out = run(cfg)
    assert out.result.table["structure"].tolist() == list(data.structures)
    assert {"dice_csf_other", "dice_grey_matter", "dice_white_matter"} <= set(out.metrics)
    assert 0.0 <= out.metrics["mean_dice"] <= 1.0


def _write_msd_task(root: Path, n: int = 5) -> Path:
    import nibabel as nib

    task = root / "Task99_Mini"
    (task / "imagesTr").mkdir(parents=True)
    (task / "labelsTr").mkdir()
    rng = np.random.default_rng(0)
    training = []
    for i in range(n):
        lab = np.zeros((20, 20, 12), np.uint8)
        c = rng.integers(6, 14, 2)
        lab[c[0] - 3:c[0] + 3, c[1] - 3:c[1] + 3, 3:9] = 1
        img = (rng.normal(-100, 20, lab.shape) + 160 * lab).astype(np.float32)
        aff = np.diag([3.0, 3.0, 4.0, 1.0])
        nib.save(nib.Nifti1Image(img, aff), task / "imagesTr" / f"mini_{i:03d}.nii.gz")
        nib.save(nib.Nifti1Image(lab, aff), task / "labelsTr" / f"mini_{i:03d}.nii.gz")
        training.append({"image": f"./imagesTr/mini_{i:03d}.nii.gz", "label": f"./labelsTr/mini_{i:03d}.nii.gz"})
    (task / "dataset.json").write_text(json.dumps({
        "name": "Mini", "modality": {"0": "CT"}, "labels": {"0": "background", "1": "spleen"},
        "numTraining": n, "training": training, "test": []}))
    return task


def test_msd_folder_path(tmp_path, monkeypatch):
    pytest.importorskip("medbench.data.msd")
    monkeypatch.setenv("MEDBENCH_DATA_DIR", str(tmp_path))
    _write_msd_task(tmp_path / "msd")
    cfg = SegConfig(**{**TINY, "dataset": "msd:Task99_Mini", "pixdim": (3.0, 3.0, 4.0), "n_train": 3, "n_val": 1})
    data = build_dataset(cfg)
    assert data.structures == ("spleen",) and data.kind == "file" and data.modality == "ct"
    names = [{c["case"] for c in part} for part in (data.train, data.val, data.test)]
    assert all(names) and not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    out = run(cfg)
    assert out.atlas_result is None and "atlas_mean_dice" not in out.metrics  # files are not on one grid
    assert out.result.table["structure"].tolist() == ["spleen"]
    assert 0.0 <= out.metrics["mean_dice"] <= 1.0
    with pytest.raises(DataNotFoundError, match="Task09_Spleen"):
        build_dataset(SegConfig(dataset="msd:Task09_Spleen"))


def test_entry_point_reports_bad_config(tmp_path, capsys):
    train = ["train", "segmentation", "--config"]
    assert cli_main(train + [str(tmp_path / "none.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: 2\nlearning_rate: 0.1\n")
    assert cli_main(train + [str(bad)]) == 2
    assert "learning_rate" in capsys.readouterr().err
    ok = tmp_path / "ok.yaml"
    ok.write_text("epochs: 2\n")
    assert cli_main(train + [str(ok), "--set", "lr=-1"]) == 2
    assert "lr must be a positive number" in capsys.readouterr().err


def test_chapter_parameters_become_a_config():
    cfg = config_from_parameters(grid="32x32x20", channels="8,16,32", roi_size="16x16x16", schedule="none",
                                 model_name="basicunet", epochs=3)
    assert cfg.shape == (32, 32, 20) and cfg.spacing == (12.0, 12.0, 16.0)
    assert cfg.channels == (8, 16, 32) and cfg.strides == (2, 2) and cfg.roi_size == (16, 16, 16)
    assert cfg.scheduler is None and cfg.model == "basicunet" and cfg.epochs == 3 and cfg.keep_largest
    assert not config_from_parameters(dataset="brain").keep_largest  # CSF is not one connected piece
    with pytest.raises(ConfigError, match="valid keys"):
        config_from_parameters(epoch=3)
    for bad in (dict(grid="64x64"), dict(grid="big"), dict(channels="16,,32"), dict(roi_size="48x48x0")):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            config_from_parameters(**bad)


def test_pipelines_come_from_the_transform_presets(monkeypatch):
    """Editing the ct_3d_train / ct_3d_eval presets changes what the task builds (one way to build pipelines)."""
    from medbench import transforms

    seen = []
    for name in ("ct_3d_train", "ct_3d_eval"):
        original = transforms.PIPELINES[name]
        monkeypatch.setitem(transforms.PIPELINES, name,
                            lambda _n=name, _o=original, **kw: seen.append((_n, kw)) or _o(**kw))
    cfg = SegConfig(**TINY)
    data = build_dataset(cfg)
    train_loader, _, val_ds = make_loaders(data, cfg)
    assert [n for n, _ in seen] == ["ct_3d_train", "ct_3d_eval"]
    assert seen[0][1]["window"] == ["soft_tissue", "lung"] and seen[0][1]["crop"] == "classes"
    assert transforms.describe_pipeline(train_loader.dataset.transform)[-4:] == [
        "SpatialPadd", "RandCropByLabelClassesd", "RandShiftIntensityd", "EnsureTyped"]


@pytest.mark.slow
def test_entry_point_under_torchrun_with_two_processes(tmp_path):
    import yaml

    cfg = {**TINY, "n_train": 4, "shape": list(TINY["shape"]), "spacing": list(TINY["spacing"]),
           "channels": list(TINY["channels"]), "strides": list(TINY["strides"]), "roi_size": list(TINY["roi_size"])}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "medbench.cli", "train", "segmentation", "--config", str(path), "--out", str(out), "--set", "epochs=1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["epochs"] == 1
    assert 0.0 <= metrics["mean_dice"] <= 1.0
    assert (out / "model.pt").is_file() and (out / "per_case.csv").is_file()




def test_test_volumes_play_no_part_in_model_selection():
    """Validation picks the model, test is scored once; without validation the final epoch is kept."""
    from medbench.tasks.segmentation import build_model, train
    from medbench.training import Callback

    cfg = SegConfig(**{**TINY, "n_val": 2, "n_test": 2, "epochs": 3})
    data = build_dataset(cfg)
    cases = [[c["case"] for c in part] for part in (data.train, data.val, data.test)]
    assert [len(c) for c in cases] == [3, 2, 2] and len(set(sum(cases, []))) == 7

    class LastWeights(Callback):
        def on_epoch_end(self, state):
            self.weights = {k: v.detach().clone() for k, v in state.model.state_dict().items()}

    train_loader, val_loader, _ = make_loaders(data, cfg)
    model, last = build_model(data, cfg), LastWeights()
    train(model, train_loader, None, cfg=cfg, n_classes=data.n_classes, callbacks=[last])
    assert all(torch.equal(v, last.weights[k]) for k, v in model.state_dict().items())  # the final epoch
    history = train(build_model(data, cfg), train_loader, val_loader, cfg=cfg, n_classes=data.n_classes)
    assert history.monitor == "val_dice" and history.mode == "max"  # best epoch by validation Dice only

    out = run(cfg)
    assert set(out.result.table["case"]) == set(cases[2]) and set(out.val_result.table["case"]) == set(cases[1])
    assert set(out.atlas_result.table["case"]) == set(cases[2])
    assert out.metrics["val_mean_dice"] == out.val_result.mean_dice
    assert out.metrics["atlas_mean_dice"] == out.atlas_result.mean_dice
