"""GAN augmentation for mammography-like patches (chapter 05).

Stages:

- data: :func:`medbench.data.mammo.mammo_patches` (known ``p_malignant``, so the Bayes AUROC is
  known); :func:`make_splits` fixes validation and test patches and a training pool;
- model + fit: :func:`train_dcgan` trains a class-conditional DCGAN
  (:mod:`medbench.models.generative`) with alternating discriminator / non-saturating generator
  steps (its own loop: ``training.fit`` runs one optimiser on one loss); the classifier is chapter
  02's :class:`medbench.tasks.classification.ImageClassifier` (``small_cnn`` through ``training.fit``);
- evaluation: :func:`augmentation_study` trains the classifier with and without synthetic malignant
  patches, for several numbers of real malignant patches and seeds, on the same test patches;
  :func:`medbench.metrics.mean_auroc` lets :func:`medbench.metrics.paired_bootstrap_diff` give a paired interval of
  the seed-averaged AUROC gain.

Optional (``full`` profile, meant for a GPU): :func:`train_ddpm` / :func:`sample_ddpm`, a small
denoising diffusion model on the malignant patches with MONAI's ``DiffusionModelUNet`` (~1.1 M
parameters: the tutorial-size model is far too slow on a CPU), ``DDPMScheduler`` for training,
``DDIMScheduler`` for 50-step sampling, and ``DiffusionInferer``.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from medbench.errors import ConfigError
from medbench.settings import check_seed
from medbench.training import fit_gan

__all__ = ["make_splits", "train_dcgan", "train_ddpm", "sample_ddpm", "augmentation_study"]


def make_splits(data, n_val: int, n_test: int, seed: int = 0) -> dict:
    """Patient (= patch) split into ``"pool"``, ``"val"`` and ``"test"`` index arrays, stratified by label."""
    from medbench.data.sequences import split_patients

    n = len(data.labels)
    if n_val + n_test >= n:
        raise ConfigError(f"n_val + n_test = {n_val + n_test} leaves no training pool of the {n} patches")
    s = split_patients(np.arange(n), (n - n_val - n_test, n_val, n_test), seed=check_seed(seed), stratify=data.labels)
    return {"pool": s["train"], "val": s["val"], "test": s["test"]}


def train_dcgan(images: np.ndarray, labels: np.ndarray, *, epochs: int = 30, batch_size: int = 32, lr: float = 2e-4,
                noise: int = 64, width: int = 64, seed: int = 0, progress: bool = False, callback=None):
    """Train a class-conditional DCGAN on ``(N, 1, 32, 32)`` images in [0, 1] with labels ``(N,)``.

    Discriminator step on real and generated images (binary cross-entropy), then a generator step
    with the non-saturating loss ``-log D(G(z, y), y)`` (through the discriminator).

    Returns:
        ``(generator, discriminator, GANHistory)``.
    """
    from torch.utils.data import DataLoader, TensorDataset

    from medbench.models.generative import DCGANDiscriminator, DCGANGenerator

    seed = check_seed(seed)
    if images.ndim != 4 or images.shape[1:] != (1, 32, 32):
        raise ConfigError(f"train_dcgan needs (N, 1, 32, 32) images, got {images.shape}")
    torch.manual_seed(seed)
    G, D = DCGANGenerator(noise, int(labels.max()) + 1, width), DCGANDiscriminator(int(labels.max()) + 1, width)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    ds = TensorDataset(torch.as_tensor(images, dtype=torch.float32), torch.as_tensor(labels, dtype=torch.int64))
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=len(ds) > batch_size,
                        generator=torch.Generator().manual_seed(seed))
    hist = fit_gan(G, D, loader, noise=noise, epochs=epochs, opt_g=opt_g, opt_d=opt_d, progress=progress,
                   desc="DCGAN", callback=callback)
    return G.eval(), D.eval(), hist


def train_ddpm(images: np.ndarray, *, epochs: int = 100, batch_size: int = 32, lr: float = 2.5e-4,
               seed: int = 0, device=None, progress: bool = False):
    """Train a small unconditional DDPM (Ho et al. 2020) on ``(N, 1, 32, 32)`` images in [0, 1].

    The network predicts the noise added at a random step of a 1000-step linear schedule
    (``DDPMScheduler``); images are scaled to [-1, 1]. Train one model per class (here: malignant).

    Returns:
        ``(model, losses)``: the ``DiffusionModelUNet`` (eval mode, on ``device``) and per-epoch mean losses.
    """
    from monai.inferers import DiffusionInferer
    from monai.networks.schedulers import DDPMScheduler
    from torch.utils.data import DataLoader, TensorDataset
    from tqdm.auto import tqdm

    from medbench.models.generative import ddpm_unet
    from medbench.settings import get_device

    seed = check_seed(seed)
    if images.ndim != 4 or images.shape[1:] != (1, 32, 32):
        raise ConfigError(f"train_ddpm needs (N, 1, 32, 32) images, got {images.shape}")
    dev = get_device(device)
    torch.manual_seed(seed)
    model = ddpm_unet().to(dev)
    scheduler = DDPMScheduler(num_train_timesteps=1000)
    inferer = DiffusionInferer(scheduler)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x_all = torch.as_tensor(images, dtype=torch.float32) * 2 - 1
    loader = DataLoader(TensorDataset(x_all), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    losses = []
    for _ in tqdm(range(epochs), desc="DDPM", disable=not progress):
        model.train()
        ep = []
        for (x,) in loader:
            x = x.to(dev)
            noise = torch.randn_like(x)
            t = torch.randint(0, scheduler.num_train_timesteps, (len(x),), device=dev).long()
            loss = nn.functional.mse_loss(inferer(inputs=x, diffusion_model=model, noise=noise, timesteps=t), noise)
            opt.zero_grad()
            loss.backward()
            opt.step()
            ep.append(loss.item())
        losses.append(float(np.mean(ep)))
    return model.eval(), losses


@torch.no_grad()
def sample_ddpm(model, n: int, *, steps: int = 50, seed: int = 0) -> np.ndarray:
    """``n`` images ``(n, 1, 32, 32)`` in [0, 1] from a trained DDPM, with a ``steps``-step DDIM sampler."""
    from monai.inferers import DiffusionInferer
    from monai.networks.schedulers import DDIMScheduler

    dev = next(model.parameters()).device
    scheduler = DDIMScheduler(num_train_timesteps=1000)
    scheduler.set_timesteps(num_inference_steps=steps)
    g = torch.Generator(device="cpu").manual_seed(check_seed(seed))
    noise = torch.randn((int(n), 1, 32, 32), generator=g).to(dev)
    x = DiffusionInferer(scheduler).sample(input_noise=noise, diffusion_model=model, scheduler=scheduler, verbose=False)
    return ((x.clamp(-1, 1) + 1) / 2).cpu().numpy().astype(np.float32)


def augmentation_study(data, splits: dict, *, n_malignant=(25, 100), n_benign: int = 300, seeds=(0, 1, 2),
                       gan_epochs: int = 30, gan_width: int = 32, clf_epochs: int = 15, generator: str = "dcgan",
                       ddpm_epochs: int = 100, device=None, progress: bool = False) -> dict:
    """Classifier AUROC with and without GAN-generated malignant patches.

    For each number of real malignant training patches and each seed: draw the training set from the
    pool (``n_benign`` benign + ``m`` malignant), train the DCGAN on it, add ``n_benign - m``
    generated malignant patches (balancing the classes), and train the same classifier on real only
    and on real + synthetic; both pick their epoch on the same real validation patches and are
    scored once on the same test patches. Both use a class-weighted loss (``balance="weights"``):
    without it the real-only classifier, trained at 1:15 and validated at the population's 1:2,
    keeps its first epoch (validation loss is lowest before it learns anything) and scores below
    chance, which would flatter the augmentation. ``generator="ddpm"`` draws the synthetic malignant
    patches from a DDPM trained on the real malignant ones (:func:`train_ddpm`, ``ddpm_epochs`` on
    ``device``) instead of the DCGAN.

    Returns:
        ``{"table": DataFrame (n_malignant, seed, auroc_real, auroc_augmented, gan_seconds),
        "scores": {m: {"real": (N_test, S), "augmented": (N_test, S)}}, "generators": {m: last generator},
        "y_test": (N_test,)}``.
    """
    from tqdm.auto import tqdm

    from medbench.metrics import auroc
    from medbench.tasks.classification import ImageClassifier

    if generator not in ("dcgan", "ddpm"):
        raise ConfigError(f"generator must be 'dcgan' or 'ddpm', got {generator!r}")
    pool = np.asarray(splits["pool"])
    benign, malignant = pool[data.labels[pool] == 0], pool[data.labels[pool] == 1]
    if n_benign > len(benign) or max(n_malignant) > len(malignant):
        raise ConfigError(f"the pool has {len(benign)} benign and {len(malignant)} malignant patches; asked for "
                          f"n_benign={n_benign}, n_malignant up to {max(n_malignant)}")
    val, test = data.subset(splits["val"]), data.subset(splits["test"])
    rows, scores, gens = [], {}, {}
    runs = [(m, s) for m in n_malignant for s in seeds]
    for m, s in tqdm(runs, desc="augmentation", disable=not progress):
        rng = np.random.default_rng([check_seed(s), m])
        idx = np.r_[rng.choice(benign, n_benign, replace=False), rng.choice(malignant, m, replace=False)]
        x, y = data.images[idx], data.labels[idx]
        t0 = time.perf_counter()
        if generator == "ddpm":
            G, _ = train_ddpm(x[y == 1], epochs=ddpm_epochs, seed=s, device=device)
            synth = sample_ddpm(G, n_benign - m, seed=s)
        else:
            G, _, _ = train_dcgan(x, y, epochs=gan_epochs, width=gan_width, seed=s)
            torch.manual_seed(s)
            synth = G.sample(torch.ones(n_benign - m, dtype=torch.int64)).numpy()
        gen_seconds = time.perf_counter() - t0
        out = {}
        for name, (xi, yi) in {"real": (x, y),
                               "augmented": (np.concatenate([x, synth]), np.r_[y, np.ones(len(synth), np.int64)])}.items():
            clf = ImageClassifier("small_cnn", epochs=clf_epochs, augment=False, intensity_range=(0.0, 1.0),
                                  balance="weights", patience=None, seed=s, device="cpu")
            clf.fit(xi, yi, val=(val.images, val.labels))
            out[name] = clf.predict_score(test.images)
        rows.append({"n_malignant": m, "seed": s, "auroc_real": auroc(test.labels, out["real"]),
                     "auroc_augmented": auroc(test.labels, out["augmented"]), "gan_seconds": gen_seconds})
        sc = scores.setdefault(m, {"real": [], "augmented": []})
        sc["real"].append(out["real"])
        sc["augmented"].append(out["augmented"])
        gens[m] = G
    scores = {m: {k: np.stack(v, 1) for k, v in d.items()} for m, d in scores.items()}
    return {"table": pd.DataFrame(rows), "scores": scores, "generators": gens, "y_test": test.labels}
