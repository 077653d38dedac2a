"""load_medmnist on .npz files in the MedMNIST layout that the tests write; nothing downloads."""
from __future__ import annotations

import numpy as np
import pytest

from medbench.data.medmnist import (
    MEDMNIST_FLAGS,
    available_medmnist,
    load_medmnist,
    medmnist_filename,
    medmnist_path,
    medmnist_url,
)
from medbench.errors import ConfigError, DataError, DataNotFoundError
from medbench.settings import data_dir


def write_medmnist(folder, flag, size=28, n=(7, 3, 4), seed=0, **override):
    """A small file with the official keys, shapes and dtypes for ``flag`` at ``size``."""
    info = MEDMNIST_FLAGS[flag]
    rng = np.random.default_rng(seed)
    if info.dim == 3:
        shape = (size, size, size)
    else:
        shape = (size, size) if info.n_channels == 1 else (size, size, 3)
    arrays = {}
    for split, k in zip(("train", "val", "test"), n):
        arrays[f"{split}_images"] = rng.integers(0, 256, (k, *shape), dtype=np.uint8)
        if info.multi_label:
            arrays[f"{split}_labels"] = rng.integers(0, 2, (k, info.n_classes), dtype=np.uint8)
        else:
            arrays[f"{split}_labels"] = rng.integers(0, info.n_classes, (k, 1), dtype=np.uint8)
    arrays.update(override)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / medmnist_filename(flag, size)
    np.savez_compressed(path, **arrays)
    return path, arrays


def test_flags_cover_medmnist_2d_and_3d():
    two = [f for f, i in MEDMNIST_FLAGS.items() if i.dim == 2]
    three = [f for f, i in MEDMNIST_FLAGS.items() if i.dim == 3]
    assert len(two) == 12 and len(three) == 6
    assert MEDMNIST_FLAGS["chestmnist"].multi_label and MEDMNIST_FLAGS["chestmnist"].n_classes == 14
    assert MEDMNIST_FLAGS["pathmnist"].n_channels == 3 and MEDMNIST_FLAGS["pathmnist"].n_classes == 9
    assert MEDMNIST_FLAGS["retinamnist"].task == "ordinal-regression"
    assert MEDMNIST_FLAGS["dermamnist"].licence == "CC BY-NC 4.0"
    assert all(i.sizes == (28, 64, 128, 224) for f, i in MEDMNIST_FLAGS.items() if i.dim == 2)
    assert all(i.sizes == (28, 64) for f, i in MEDMNIST_FLAGS.items() if i.dim == 3)
    assert medmnist_filename("pathmnist", 28) == "pathmnist.npz"
    assert medmnist_filename("nodulemnist3d", 64) == "nodulemnist3d_64.npz"
    assert medmnist_url("bloodmnist", 224).endswith("/files/bloodmnist_224.npz?download=1")


@pytest.mark.parametrize("flag,size,image_shape,label_cols", [
    ("pneumoniamnist", 28, (28, 28), 1),
    ("pathmnist", 64, (64, 64, 3), 1),
    ("chestmnist", 28, (28, 28), 14),
    ("nodulemnist3d", 28, (28, 28, 28), 1),
    ("fracturemnist3d", 64, (64, 64, 64), 1),
])
def test_every_split_loads_with_documented_shapes(flag, size, image_shape, label_cols):
    _, arrays = write_medmnist(data_dir() / "medmnist", flag, size)
    for split, n in zip(("train", "val", "test"), (7, 3, 4)):
        images, labels = load_medmnist(flag, size=size, split=split)
        assert images.shape == (n, *image_shape) and images.dtype == np.uint8
        assert labels.shape == (n, label_cols) and labels.dtype == np.int64
        np.testing.assert_array_equal(images, arrays[f"{split}_images"])
        np.testing.assert_array_equal(labels, arrays[f"{split}_labels"])


def test_split_aliases_root_and_data_dir_fallback(tmp_path):
    write_medmnist(data_dir(), "breastmnist")  # directly in the data directory
    assert load_medmnist("BreastMNIST", split="valid")[0].shape[0] == 3
    write_medmnist(tmp_path / "elsewhere", "breastmnist", n=(2, 2, 2))
    assert load_medmnist("breastmnist", split="test", root=tmp_path / "elsewhere")[0].shape[0] == 2
    assert ("breastmnist", 28) in available_medmnist()


def test_one_dimensional_labels_are_accepted():
    write_medmnist(data_dir() / "medmnist", "octmnist", train_labels=np.array([0, 1, 2, 3, 0, 1, 2], np.uint8))
    assert load_medmnist("octmnist")[1].shape == (7, 1)


def test_missing_file_names_file_folder_and_source():
    with pytest.raises(DataNotFoundError) as err:
        load_medmnist("dermamnist", size=128, split="train")
    msg = str(err.value)
    expected = medmnist_path("dermamnist", 128)
    assert "dermamnist_128.npz" in msg and str(expected.parent) in msg
    assert "medmnist.com" in msg and "zenodo.org/records/10519652/files/dermamnist_128.npz" in msg
    assert "CC BY-NC 4.0" in msg


@pytest.mark.parametrize("kwargs,match", [
    ({"flag": "nomnist"}, "unknown MedMNIST flag 'nomnist'; 2D: pathmnist"),
    ({"flag": "nodulemnist3d", "size": 128}, "nodulemnist3d comes in sizes 28, 64"),
    ({"flag": "pathmnist", "size": 32}, "sizes 28, 64, 128, 224"),
    ({"flag": "pathmnist", "split": "holdout"}, "split must be one of train, val, test"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        load_medmnist(**kwargs)


def test_corrupt_file():
    path = data_dir() / "medmnist" / "bloodmnist.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK\x03\x04 this is not a zip archive" * 10)
    with pytest.raises(DataError, match=r"bloodmnist\.npz.*truncated or corrupt"):
        load_medmnist("bloodmnist")


def test_truncated_download():
    path, _ = write_medmnist(data_dir() / "medmnist", "tissuemnist")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match=r"tissuemnist\.npz"):
        load_medmnist("tissuemnist")


def test_missing_keys_wrong_shapes_and_labels():
    folder = data_dir() / "medmnist"
    path = folder / "organamnist.npz"
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(path, train_images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match="lacks train_labels"):
        load_medmnist("organamnist")
    write_medmnist(folder, "organamnist", train_images=np.zeros((7, 64, 64), np.uint8))
    with pytest.raises(DataError, match=r"images have shape \(7, 64, 64\), expected \(N, 28, 28\)"):
        load_medmnist("organamnist")
    write_medmnist(folder, "organamnist", train_labels=np.full((7, 1), 11, np.uint8))
    with pytest.raises(DataError, match=r"label values span 11\.\.11, expected 0\.\.10"):
        load_medmnist("organamnist")
    write_medmnist(folder, "organamnist", train_labels=np.zeros((6, 1), np.uint8))
    with pytest.raises(DataError, match=r"labels have shape \(6, 1\), expected \(7, 1\)"):
        load_medmnist("organamnist")
