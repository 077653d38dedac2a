"""fit() under torchrun: 2 CPU processes (gloo) end with identical parameters; rank 0 writes the checkpoint."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent("""
    import os, sys
    import torch
    import torch.distributed as dist
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    sys.path.insert(0, {root!r})
    from medbench.training import fit

    out = sys.argv[1]
    rank = int(os.environ["RANK"])
    torch.manual_seed(0)  # same initial weights on every rank (DDP also broadcasts rank 0's)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(128, 8, generator=g); y = (x[:, 0] + x[:, 1] > 0).long()
    train = DataLoader(TensorDataset(x[:96], y[:96]), batch_size=16, shuffle=True)
    val = DataLoader(TensorDataset(x[96:], y[96:]), batch_size=32)
    torch.manual_seed(100 + rank)  # different RNG per rank: dropout masks differ, gradients are averaged
    h = fit(model, train, val, loss_fn=nn.CrossEntropyLoss(), epochs=3, lr=1e-2, precision="fp32",
            progress=False, seed=None, checkpoint_dir=os.path.join(out, "ck"), restore_best=False)
    assert dist.is_initialized() and dist.get_world_size() == 2
    assert len(train.dataset) == 96
    torch.save({{"params": model.state_dict(), "records": len(h), "world": dist.get_world_size()}},
               os.path.join(out, f"rank{{rank}}.pt"))
    dist.barrier()  # as `medbench train segmentation` does: no rank tears down while another still talks
    dist.destroy_process_group()
""")


@pytest.mark.slow
def test_ddp_two_cpu_processes_end_with_identical_parameters(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(SCRIPT.format(root=str(ROOT)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc_per_node=2",
         str(script), str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=240,
    )
    log = proc.stdout[-3000:] + proc.stderr[-3000:]
    saved = (tmp_path / "rank0.pt").exists() and (tmp_path / "rank1.pt").exists()
    # torch's gloo threads can abort at interpreter shutdown ("terminate called without an active
    # exception", seen once in CI; pytorch/pytorch#179291 discusses it). That crash comes after both
    # ranks saved their results, so it is tolerated only then; every other failure fails the test.
    teardown_abort = "terminate called without an active exception" in log and saved
    assert proc.returncode == 0 or teardown_abort, log
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["world"] == r1["world"] == 2 and r0["records"] == r1["records"] == 3
    for k in r0["params"]:
        assert torch.equal(r0["params"][k], r1["params"][k]), k
    # the weights moved away from the initial ones (training happened)
    torch.manual_seed(0)
    init = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(16, 2))
    assert not torch.equal(init.state_dict()["0.weight"], r0["params"]["0.weight"])
    # only rank 0 wrote checkpoints, and exactly one file
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["last.pt"]
