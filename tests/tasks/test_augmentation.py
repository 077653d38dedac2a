from __future__ import annotations

import numpy as np
import pytest
import torch

from medbench.data.mammo import mammo_patches
from medbench.errors import ConfigError
from medbench.tasks import augmentation


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return mammo_patches(500, seed=0)


def test_splits_are_disjoint_and_stratified(data):
    s = augmentation.make_splits(data, 100, 150, seed=0)
    assert len(s["val"]) == 100 and len(s["test"]) == 150 and len(s["pool"]) == 250
    assert not (set(s["pool"]) & set(s["test"]) or set(s["val"]) & set(s["test"]))
    assert abs(data.labels[s["test"]].mean() - data.labels.mean()) < 0.05
    with pytest.raises(ConfigError, match="no training pool"):
        augmentation.make_splits(data, 300, 200)


def test_dcgan_training_runs_and_learns_the_classes(data):
    x, y = data.images[:256], data.labels[:256]
    from medbench.models.generative import DCGANGenerator

    torch.manual_seed(0)
    untrained = DCGANGenerator(16, 2, 32).eval().sample(torch.zeros(64, dtype=torch.int64)).numpy()
    G, D, hist = augmentation.train_dcgan(x, y, epochs=15, batch_size=32, width=32, noise=16, seed=0)
    assert len(hist.d_loss) == 15 and np.isfinite(hist.g_loss).all()
    torch.manual_seed(0)
    fake = G.sample(torch.tensor([0] * 64 + [1] * 64)).numpy()
    assert fake.shape == (128, 1, 32, 32)
    # training moves the generated brightness from the untrained ~0.5 toward the data's
    assert abs(fake.mean() - x.mean()) < 0.5 * abs(untrained.mean() - x.mean())
    with pytest.raises(ConfigError, match=r"\(N, 1, 32, 32\)"):
        augmentation.train_dcgan(x[:, :, :16, :16], y)


def test_augmentation_study_table_and_scores(data):
    s = augmentation.make_splits(data, 100, 150, seed=0)
    res = augmentation.augmentation_study(data, s, n_malignant=(10,), n_benign=60, seeds=(0, 1), gan_epochs=2,
                                          gan_width=16, clf_epochs=2)
    t = res["table"]
    assert list(t["n_malignant"]) == [10, 10] and list(t["seed"]) == [0, 1]
    assert t[["auroc_real", "auroc_augmented"]].apply(lambda c: c.between(0, 1)).all().all()
    assert res["scores"][10]["real"].shape == (150, 2) and res["y_test"].shape == (150,)
    with pytest.raises(ConfigError, match="benign"):
        augmentation.augmentation_study(data, s, n_malignant=(10,), n_benign=10_000)


def test_ddpm_trains_a_step_and_samples_images(data):
    x = data.images[data.labels == 1][:16]
    model, losses = augmentation.train_ddpm(x, epochs=2, batch_size=8, seed=0, device="cpu")
    assert len(losses) == 2 and np.isfinite(losses).all()
    imgs = augmentation.sample_ddpm(model, 3, steps=3, seed=0)
    assert imgs.shape == (3, 1, 32, 32) and imgs.min() >= 0 and imgs.max() <= 1
    with pytest.raises(ConfigError, match="dcgan' or 'ddpm"):
        augmentation.augmentation_study(data, augmentation.make_splits(data, 100, 150), generator="vae")
