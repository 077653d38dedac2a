"""The shared training engine: learning, early stopping, checkpoints, resume, precision, callbacks."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from medbench.errors import CheckpointError, ConfigError, MedbenchError
from medbench.training import (
    Callback,
    autocast,
    bf16_supported,
    fit,
    load_checkpoint,
    predict,
    resolve_precision,
    save_checkpoint,
)

ROOT = Path(__file__).resolve().parent.parent


def toy_data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    w = torch.randn(8, generator=g)
    y = (x @ w > 0).long()
    return x, y


def toy_loaders(seed=0, batch_size=32):
    x, y = toy_data(seed=seed)
    train = DataLoader(TensorDataset(x[:192], y[:192]), batch_size=batch_size, shuffle=True,
                       generator=torch.Generator().manual_seed(seed))
    val = DataLoader(TensorDataset(x[192:], y[192:]), batch_size=64)
    return train, val


def toy_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 2))


def accuracy(out, y):
    return float((out.argmax(1) == y).float().mean())


def params(model):
    return torch.cat([p.detach().flatten() for p in model.state_dict().values() if p.is_floating_point()])


def test_loss_decreases_and_model_learns():
    train, val = toy_loaders()
    model = toy_model()
    h = fit(model, train, val, loss_fn=nn.CrossEntropyLoss(), epochs=8, lr=1e-2, precision="fp32",
            metrics={"acc": accuracy}, monitor="val_acc", progress=False, seed=0)
    assert len(h) == 8
    assert h["train_loss"][-1] < 0.6 * h["train_loss"][0]
    assert max(h["val_acc"]) > 0.85
    assert h.best_epoch == 1 + max(range(8), key=lambda i: h["val_acc"][i])
    out, y = predict(model, val, activation="softmax")
    assert out.shape == (64, 2) and torch.allclose(out.sum(1), torch.ones(64))
    # restore_best: the model holds the best epoch's weights
    assert accuracy(out, y) == pytest.approx(h.best_score)
    assert list(h.to_frame().columns)[:2] == ["train_loss", "lr"]


def test_early_stopping_stops_after_patience():
    train, val = toy_loaders()
    h = fit(toy_model(), train, val, loss_fn=nn.CrossEntropyLoss(), epochs=20, precision="fp32",
            metrics={"const": lambda o, t: 0.5}, monitor="val_const", patience=3, progress=False, seed=0)
    assert h.stopped_early and h.stop_reason == "early_stopping"
    assert len(h) == 4 and h.best_epoch == 1


def test_same_seed_same_parameters():
    results = []
    for _ in range(2):
        train, val = toy_loaders()
        model = toy_model()
        fit(model, train, val, loss_fn=nn.CrossEntropyLoss(), epochs=3, precision="fp32", progress=False, seed=3)
        results.append(params(model))
    assert torch.equal(results[0], results[1])


def test_callbacks_see_every_event_and_can_stop():
    events = []

    class Stopper(Callback):
        def on_batch_end(self, state):
            if state.epoch == 2 and state.batch == 2:
                state.stop = True

    train, val = toy_loaders()
    h = fit(toy_model(), train, val, loss_fn=nn.CrossEntropyLoss(), epochs=5, precision="fp32", progress=False,
            callbacks=[lambda ev, st: events.append((ev, st.epoch)), Stopper()])
    assert h.stop_reason == "stopped" and len(h) == 1
    assert events[0] == ("train_begin", 0) and events[-1][0] == "train_end"
    assert ("epoch_end", 1) in events and ("epoch_end", 2) not in events
    assert sum(e == "batch_end" for e, _ in events) == 6 + 2


def test_dict_batches_and_sequence_inputs():
    x, y = toy_data(64)
    dict_batches = [{"image": x[i:i + 16], "label": y[i:i + 16]} for i in range(0, 64, 16)]
    h = fit(toy_model(), dict_batches, dict_batches, loss_fn=nn.CrossEntropyLoss(), epochs=2,
            precision="fp32", progress=False)
    assert len(h) == 2 and "val_loss" in h.records[0]

    class Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(3, 8, batch_first=True)
            self.head = nn.Linear(8, 1)

        def forward(self, seq, lengths):
            packed = nn.utils.rnn.pack_padded_sequence(seq, lengths, batch_first=True, enforce_sorted=False)
            _, hidden = self.rnn(packed)
            return self.head(hidden[-1])

    seqs = torch.randn(32, 10, 3)
    lengths = torch.randint(3, 11, (32,))
    target = (seqs[:, 0, 0] > 0).float().unsqueeze(1)
    batches = [((seqs[i:i + 8], lengths[i:i + 8]), target[i:i + 8]) for i in range(0, 32, 8)]
    h = fit(Seq(), batches, loss_fn=nn.BCEWithLogitsLoss(), epochs=2, precision="fp32", progress=False,
            scheduler="cosine")
    assert h.monitor == "train_loss" and len(h) == 2


@pytest.mark.skipif(not bf16_supported("cpu"), reason="CPU lacks bf16 support")
def test_bf16_autocast_trains():
    train, val = toy_loaders()
    h = fit(toy_model(), train, val, loss_fn=nn.CrossEntropyLoss(), epochs=4, lr=1e-2, precision="bf16",
            progress=False, metrics={"acc": accuracy}, monitor="val_acc", seed=0)
    assert h.precision == "bf16" and max(h["val_acc"]) > 0.8


def test_bad_arguments_raise_config_errors():
    train, val = toy_loaders()
    with pytest.raises(ConfigError, match="precision"):
        fit(toy_model(), train, val, loss_fn=nn.CrossEntropyLoss(), epochs=1, precision="fp8", progress=False)
    with pytest.raises(ConfigError, match="CUDA"):
        fit(toy_model(), train, val, loss_fn=nn.CrossEntropyLoss(), epochs=1, precision="amp", device="cpu",
            progress=False)
    with pytest.raises(ConfigError, match="metrics"):
        fit(toy_model(), train, val, loss_fn=nn.CrossEntropyLoss(), epochs=1, monitor="val_auc", progress=False)



@pytest.mark.parametrize("kwargs,match", [
    ({"lr": -1e-3}, r"lr must be a positive finite number.*-0\.001"),
    ({"lr": 0}, r"lr must be a positive finite number.*got 0"),
    ({"lr": "1e-3"}, r"lr must be a positive finite number.*'1e-3'"),
    ({"lr": float("nan")}, r"lr must be a positive finite number.*nan"),
    ({"lr": True}, r"lr must be"),
    ({"weight_decay": -0.01}, r"weight_decay must be a finite number >= 0.*-0\.01"),
    ({"weight_decay": None}, r"weight_decay must be"),
    ({"epochs": 0}, r"epochs must be >= 1, got 0: fit would train nothing"),
    ({"epochs": -3}, r"epochs must be >= 1, got -3"),
    ({"epochs": 2.5}, r"epochs must be a whole number >= 1, got 2\.5"),
    ({"resume": True}, r"resume=True needs checkpoint_dir.*train from scratch"),
])
def test_bad_fit_arguments_name_the_argument(kwargs, match):
    """New-user mistakes fail early with a ConfigError naming the argument (not torch's raw
    ValueError, not a silent no-op or a silent fresh start), before the model is touched."""
    train, _ = toy_loaders()
    model = toy_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    kw = dict(loss_fn=nn.CrossEntropyLoss(), epochs=1, precision="fp32", progress=False, device="cpu")
    kw.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        fit(model, train, **kw)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_good_edge_values_are_accepted(tmp_path):
    train, _ = toy_loaders()
    h = fit(toy_model(), train, loss_fn=nn.CrossEntropyLoss(), epochs=np.int64(1), lr=np.float32(1e-3),
            weight_decay=0, precision="fp32", progress=False, device="cpu", resume=True, checkpoint_dir=tmp_path)
    assert len(h) == 1 and (tmp_path / "last.pt").exists()  # resume with no last.pt yet: a fresh start, by design


# ---------------------------------------------------------------- checkpoints
def test_checkpoint_contents_and_weights_only_load(tmp_path):
    train, val = toy_loaders()
    fit(toy_model(), train, val, loss_fn=nn.CrossEntropyLoss(), epochs=2, precision="fp32", progress=False,
        checkpoint_dir=tmp_path, scheduler="step")
    ck = load_checkpoint(tmp_path / "last.pt")
    assert ck["epoch"] == 2 and ck["scheduler"] is not None and ck["best_model"] is not None
    assert {"python", "numpy", "torch", "loader"} <= set(ck["rng"])
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp files left behind


def test_truncated_or_corrupt_checkpoint_raises_clear_error(tmp_path):
    train, val = toy_loaders()
    fit(toy_model(), train, val, loss_fn=nn.CrossEntropyLoss(), epochs=1, precision="fp32", progress=False,
        checkpoint_dir=tmp_path)
    path = tmp_path / "last.pt"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as info:
        load_checkpoint(path)
    assert isinstance(info.value, MedbenchError) and str(path) in str(info.value)
    with pytest.raises(CheckpointError):  # resume goes through the same check
        fit(toy_model(), train, val, loss_fn=nn.CrossEntropyLoss(), epochs=2, progress=False,
            checkpoint_dir=tmp_path, resume=True)
    path.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a medbench training checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_never_half_written(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    good = {"version": 1, "model": {"w": torch.ones(3)}, "optimizer": {}, "epoch": 1, "history": {}, "rng": {}}
    save_checkpoint(good, path)

    def crashing_save(obj, fh):
        fh.write(b"PK\x03\x04partial")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({**good, "epoch": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


RESUME_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    sys.path.insert(0, {root!r})
    from medbench.training import fit

    ckpt, epochs, kill_after, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(256, 8, generator=g); w = torch.randn(8, generator=g); y = (x @ w > 0).long()
    train = DataLoader(TensorDataset(x[:192], y[:192]), batch_size=32, shuffle=True)
    val = DataLoader(TensorDataset(x[192:], y[192:]), batch_size=64)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))

    def killer(event, state):
        if event == "epoch_end" and state.epoch == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    h = fit(model, train, val, loss_fn=nn.CrossEntropyLoss(), epochs=epochs, lr=1e-2, precision="fp32",
            scheduler="cosine", progress=False, seed=0, checkpoint_dir=ckpt if ckpt != "-" else None,
            resume=ckpt != "-", restore_best=False, callbacks=[killer])
    torch.save({{"params": model.state_dict(), "losses": h["train_loss"]}}, out)
""")


@pytest.mark.slow
def test_sigkilled_run_resumes_to_the_same_result(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(RESUME_SCRIPT.format(root=str(ROOT)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def run(*args):
        return subprocess.run([sys.executable, str(script), *map(str, args)], env=env, capture_output=True, text=True)

    ref = run("-", 5, 0, tmp_path / "ref.pt")
    assert ref.returncode == 0, ref.stderr
    ckdir = tmp_path / "ck"
    killed = run(ckdir, 5, 2, tmp_path / "never.pt")
    assert killed.returncode == -signal.SIGKILL
    assert load_checkpoint(ckdir / "last.pt")["epoch"] == 2 and not (tmp_path / "never.pt").exists()
    resumed = run(ckdir, 5, 0, tmp_path / "resumed.pt")
    assert resumed.returncode == 0, resumed.stderr
    a = torch.load(tmp_path / "ref.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed.pt", weights_only=True)
    assert a["losses"] == b["losses"]
    for k in a["params"]:
        assert torch.equal(a["params"][k], b["params"][k]), k


# ---------------------------------------------------------------- precision / autocast
def test_autocast_resolves_amp_against_a_cuda_device_not_the_cpu(monkeypatch):
    """Regression (issue 10): precision='amp' on a CUDA model must not be checked against the CPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # no GPU here: pretend, never enter
    for device in (torch.device("cuda"), "cuda:0"):
        assert resolve_precision("amp", device) == "amp"
        assert resolve_precision("auto", device) == "amp"
        ctx = autocast("amp", device)  # constructing is enough: entering would need a GPU
        assert isinstance(ctx, torch.autocast)
        assert ctx.device == "cuda" and ctx.fast_dtype == torch.float16 and ctx._enabled
        off = autocast("fp32", device)
        assert off.device == "cuda" and not off._enabled


def test_autocast_on_cpu_behaves_as_before():
    with pytest.raises(ConfigError, match="CUDA"):
        autocast("amp", "cpu")
    with pytest.raises(ConfigError, match="precision"):
        autocast("fp16", torch.device("cpu"))
    x, w = torch.randn(4, 8), torch.randn(8, 3)
    with autocast("fp32", "cpu"):
        assert (x @ w).dtype == torch.float32
    with autocast("bf16", torch.device("cpu")):
        assert (x @ w).dtype == torch.bfloat16
    expected = "bf16" if bf16_supported("cpu") else "fp32"
    assert resolve_precision("auto", "cpu") == expected
    with autocast("auto", "cpu"):
        assert (x @ w).dtype == (torch.bfloat16 if expected == "bf16" else torch.float32)
    model = toy_model()
    _, val = toy_loaders()
    with pytest.raises(ConfigError, match="CUDA"):  # predict goes through the same helper
        predict(model, val, precision="amp")


def test_autocast_on_mps_and_other_devices_never_raises_for_the_device(monkeypatch):
    assert resolve_precision("amp", "mps") == "amp"
    ctx = autocast("amp", torch.device("mps"))
    assert ctx.device == "mps" and ctx.fast_dtype == torch.float16
    assert resolve_precision("auto", "mps") == "fp32"  # mixed precision on MPS is opt-in
    monkeypatch.setattr(torch.backends.mps, "is_macos_or_newer", lambda major, minor: True)
    assert bf16_supported("mps") and autocast("bf16", "mps").fast_dtype == torch.bfloat16
    monkeypatch.setattr(torch.backends.mps, "is_macos_or_newer", lambda major, minor: False)
    with pytest.warns(UserWarning, match="fp32"):
        assert resolve_precision("bf16", "mps") == "fp32"  # bfloat16 needs macOS 14: fall back
    with pytest.warns(UserWarning, match="fp32"):  # a device type torch cannot autocast
        with autocast("bf16", "meta"):
            pass
    assert resolve_precision("auto", "meta") == "fp32"


def test_fit_gan_learns_a_spread_distribution_and_reports_every_epoch():
    """A 1-D GAN on N(3, 0.5): the generated draws move to the data and keep a spread (no collapse)."""
    from torch.utils.data import DataLoader, TensorDataset

    from medbench.training import fit_gan

    class G(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))

        def forward(self, z, c):
            return self.net(torch.cat([z, c], 1))

    class D(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))

        def forward(self, x, c):
            return self.net(torch.cat([x, c], 1))

    torch.manual_seed(0)
    real = 3 + 0.5 * torch.randn(512, 1)
    loader = DataLoader(TensorDataset(real, torch.ones(512, 1)), batch_size=64, shuffle=True)
    g, d = G(), D()
    seen = []
    hist = fit_gan(g, d, loader, noise=1, epochs=60, opt_g=torch.optim.Adam(g.parameters(), 1e-2, betas=(0.5, 0.9)),
                   opt_d=torch.optim.Adam(d.parameters(), 1e-2, betas=(0.5, 0.9)),
                   callback=lambda epoch, h, gen: seen.append((epoch, gen.training)))
    assert seen == [(e, False) for e in range(1, 61)] and len(hist.d_loss) == len(hist.g_loss) == 60
    assert not g.training and not d.training
    with torch.no_grad():
        draws = g(torch.randn(2000, 1), torch.ones(2000, 1))
    assert abs(draws.mean().item() - 3) < 0.5, draws.mean()
    assert draws.std().item() > 0.1, f"the generator collapsed: sd {draws.std().item():.3f}"
