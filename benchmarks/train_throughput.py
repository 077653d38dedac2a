"""Training-epoch throughput (images/s), measured side by side in one run:

1. precision: fp32 vs bf16 autocast (``torch.autocast("cpu", torch.bfloat16)``, only where the CPU
   supports bf16) for the chapter-02 small CNN and for MONAI's ResNet-18;
2. transforms: MONAI ``CacheDataset`` (deterministic preprocessing run once, random
   augmentation per epoch) vs ``Dataset`` (everything every epoch), with chapter 02's
   pipeline (the ``ct_2d_patch_train`` preset) and with a heavier deterministic head (Gaussian
   smoothing + resize to 64 px, typical of real preprocessing).

Each configuration trains ``--epochs`` timed epochs after one warm-up epoch; the best epoch is
reported. Run: ``.venv/bin/python benchmarks/train_throughput.py`` (``--quick`` for a fast look).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from medbench.models import make_model
from medbench.tasks.classification import image_dataset
from medbench.training import autocast, bf16_supported
from medbench.transforms import get_pipeline


def patches(n: int, size: int, seed: int = 0):
    from medbench.data.patches import nodule_patches

    per = 20
    ps = nodule_patches(n_patients=max(1, n // per), patches_per_patient=per, size=size, seed=seed)
    return ps.images[:n], ps.labels[:n]


def epoch_rate(model, loader, precision: str, epochs: int) -> float:
    """Best images/s over ``epochs`` timed epochs (after one warm-up epoch)."""
    device = torch.device("cpu")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    best = float("inf")
    for e in range(epochs + 1):
        t0 = time.perf_counter()
        n = 0
        for batch in loader:
            x, y = (batch["image"], batch["label"]) if isinstance(batch, dict) else batch
            opt.zero_grad(set_to_none=True)
            with autocast(precision, device):
                loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            n += len(x)
        dt = time.perf_counter() - t0
        if e > 0:
            best = min(best, dt)
    return n / best


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=640, help="training images")
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per configuration")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--quick", action="store_true", help="n=256, 1 timed epoch, skip ResNet-18")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.epochs = 256, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, bf16 supported: {bf16_supported('cpu')}")
    images, labels = patches(args.n, 32)
    rows = []

    # ---- 1. precision, on preprocessed tensors (no transform cost)
    pre = get_pipeline("ct_2d_patch_eval")
    x = torch.stack([pre({"image": im})["image"] for im in images])
    y = torch.as_tensor(labels)
    precisions = ["fp32"] + (["bf16"] if bf16_supported("cpu") else [])
    nets = [("small_cnn", 32)] + ([] if args.quick else [("resnet18", 64)])
    for name, size in nets:
        # ResNet-18 is ~100x the small CNN's work per image: time it on a quarter of the images
        xs, ys = (x, y) if size == 32 else (nn.functional.interpolate(x[: len(x) // 4], size=(size, size),
                                                                      mode="bilinear"), y[: len(y) // 4])
        rate = {}
        for prec in precisions:
            torch.manual_seed(0)
            model = make_model(name, num_classes=2)
            loader = DataLoader(TensorDataset(xs, ys), batch_size=64, shuffle=True,
                                generator=torch.Generator().manual_seed(0))
            rate[prec] = epoch_rate(model, loader, prec, args.epochs)
            rows.append((f"{name} {size}px {prec}", rate[prec]))
        if "bf16" in rate:
            rows.append((f"  ratio bf16 / fp32 ({name})", rate["bf16"] / rate["fp32"]))
    if len(precisions) == 1:
        rows.append(("  bf16: not supported by this CPU, skipped", float("nan")))

    # ---- 2. cached vs uncached transforms
    from monai.transforms import Compose, GaussianSmoothd, Randomizable, Resized

    heavy = [GaussianSmoothd(keys="image", sigma=1.0), Resized(keys="image", spatial_size=(64, 64), mode="bilinear")]
    for label, extra in (("chapter-02 preprocessing", []), ("smoothing + resize to 64 px", heavy)):
        steps = list(get_pipeline("ct_2d_patch_train").transforms)
        first_random = next(i for i, t in enumerate(steps) if isinstance(t, Randomizable))
        rate = {}
        for cache in (False, True):
            torch.manual_seed(0)
            model = make_model("small_cnn", num_classes=2)
            pipeline = Compose(steps[:first_random] + extra + steps[first_random:]).set_random_state(0)
            ds = image_dataset(images, labels.astype(np.int64), pipeline, cache=cache)
            loader = DataLoader(ds, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0))
            rate[cache] = epoch_rate(model, loader, "fp32", args.epochs)
            rows.append((f"{label}: {'CacheDataset' if cache else 'Dataset'}", rate[cache]))
        rows.append((f"  ratio CacheDataset / Dataset ({label})", rate[True] / rate[False]))

    width = max(len(r[0]) for r in rows) + 2
    print(f"\n{'configuration':<{width}}images/s (ratios: x)")
    for name, value in rows:
        unit = "x" if name.strip().startswith("ratio") else ""
        print(f"{name:<{width}}{value:10.2f}{unit}")


if __name__ == "__main__":
    main()
