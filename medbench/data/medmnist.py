"""MedMNIST v2 / MedMNIST+ ``.npz`` files read from the medbench data directory.

MedMNIST (Yang et al., Scientific Data 2023) is 12 2D and 6 3D standardised biomedical
classification datasets. Files are downloaded by the user (nothing downloads here) from
https://medmnist.com/ -> Zenodo record 10519652 and placed in
``medbench.settings.data_dir() / "medmnist"`` (or the data directory itself)::

    <data_dir>/medmnist/pathmnist.npz          # size 28
    <data_dir>/medmnist/pathmnist_64.npz       # sizes 64, 128, 224 (MedMNIST+); 3D flags: 28, 64

Each file holds ``train_images``, ``train_labels``, ``val_images``, ``val_labels``,
``test_images``, ``test_labels``. Images are uint8: 2D ``(N, H, W)`` grey or
``(N, H, W, 3)`` RGB, 3D ``(N, D, H, W)``. Labels are ``(N, 1)`` class indices, or
``(N, 14)`` 0/1 for the multi-label ChestMNIST.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medbench.errors import ConfigError, DataError, DataNotFoundError

__all__ = ["MEDMNIST_FLAGS", "MedMNISTInfo", "SPLITS", "SIZES_2D", "SIZES_3D", "HOMEPAGE", "ZENODO_RECORD",
           "medmnist_filename", "medmnist_path", "medmnist_url", "load_medmnist", "available_medmnist",
           "medmnist_train_test", "to_channels_first"]

HOMEPAGE = "https://medmnist.com/"
ZENODO_RECORD = "https://zenodo.org/records/10519652"
SPLITS = ("train", "val", "test")
SIZES_2D = (28, 64, 128, 224)
SIZES_3D = (28, 64)
_SPLIT_ALIASES = {"valid": "val", "validation": "val", "training": "train", "testing": "test"}


@dataclass(frozen=True)
class MedMNISTInfo:
    """What one MedMNIST flag holds (values from MedMNIST v3.0 ``INFO``)."""

    flag: str
    dim: int  # 2 or 3
    task: str  # "multi-class", "binary-class", "multi-label, binary-class", "ordinal-regression"
    n_channels: int
    labels: dict[int, str]
    n_samples: dict[str, int]
    licence: str
    modality: str
    source: str
    sizes: tuple[int, ...] = field(default=SIZES_2D)

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    @property
    def multi_label(self) -> bool:
        return self.task.startswith("multi-label")


_ORGAN = ["bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver", "lung-left",
          "lung-right", "pancreas", "spleen"]


def _info(flag, dim, task, ch, labels, n, licence, modality, source):
    return MedMNISTInfo(flag, dim, task, ch, dict(enumerate(labels)), dict(zip(SPLITS, n)), licence, modality,
                        source, SIZES_2D if dim == 2 else SIZES_3D)


#: Every MedMNIST flag: 12 2D and 6 3D datasets.
MEDMNIST_FLAGS: dict[str, MedMNISTInfo] = {i.flag: i for i in [
    _info("pathmnist", 2, "multi-class", 3, ["adipose", "background", "debris", "lymphocytes", "mucus",
          "smooth muscle", "normal colon mucosa", "cancer-associated stroma", "colorectal adenocarcinoma epithelium"],
          (89996, 10004, 7180), "CC BY 4.0", "colon pathology (H&E)", "NCT-CRC-HE-100K / CRC-VAL-HE-7K"),
    _info("chestmnist", 2, "multi-label, binary-class", 1, ["atelectasis", "cardiomegaly", "effusion",
          "infiltration", "mass", "nodule", "pneumonia", "pneumothorax", "consolidation", "edema", "emphysema",
          "fibrosis", "pleural", "hernia"], (78468, 11219, 22433), "CC BY 4.0", "chest X-ray", "NIH ChestX-ray14"),
    _info("dermamnist", 2, "multi-class", 3, ["actinic keratoses and intraepithelial carcinoma",
          "basal cell carcinoma", "benign keratosis-like lesions", "dermatofibroma", "melanoma", "melanocytic nevi",
          "vascular lesions"], (7007, 1003, 2005), "CC BY-NC 4.0", "dermatoscopy", "HAM10000"),
    _info("octmnist", 2, "multi-class", 1, ["choroidal neovascularization", "diabetic macular edema", "drusen",
          "normal"], (97477, 10832, 1000), "CC BY 4.0", "retinal OCT", "Kermany et al. 2018"),
    _info("pneumoniamnist", 2, "binary-class", 1, ["normal", "pneumonia"], (4708, 524, 624), "CC BY 4.0",
          "paediatric chest X-ray", "Kermany et al. 2018"),
    _info("retinamnist", 2, "ordinal-regression", 3, ["0", "1", "2", "3", "4"], (1080, 120, 400), "CC BY 4.0",
          "fundus camera", "DeepDRiD"),
    _info("breastmnist", 2, "binary-class", 1, ["malignant", "normal, benign"], (546, 78, 156), "CC BY 4.0",
          "breast ultrasound", "Al-Dhabyani et al. 2020"),
    _info("bloodmnist", 2, "multi-class", 3, ["basophil", "eosinophil", "erythroblast", "immature granulocytes",
          "lymphocyte", "monocyte", "neutrophil", "platelet"], (11959, 1712, 3421), "CC BY 4.0",
          "blood cell microscopy", "Acevedo et al. 2020"),
    _info("tissuemnist", 2, "multi-class", 1, ["Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule",
          "Glomerular endothelial cells", "Interstitial endothelial cells", "Leukocytes", "Podocytes",
          "Proximal Tubule Segments", "Thick Ascending Limb"], (165466, 23640, 47280), "CC BY 4.0",
          "kidney cortex microscopy", "BBBC051"),
    _info("organamnist", 2, "multi-class", 1, _ORGAN, (34561, 6491, 17778), "CC BY 4.0", "abdominal CT (axial)",
          "LiTS"),
    _info("organcmnist", 2, "multi-class", 1, _ORGAN, (12975, 2392, 8216), "CC BY 4.0", "abdominal CT (coronal)",
          "LiTS"),
    _info("organsmnist", 2, "multi-class", 1, _ORGAN, (13932, 2452, 8827), "CC BY 4.0", "abdominal CT (sagittal)",
          "LiTS"),
    _info("organmnist3d", 3, "multi-class", 1, ["liver", "kidney-right", "kidney-left", "femur-right", "femur-left",
          "bladder", "heart", "lung-right", "lung-left", "spleen", "pancreas"], (971, 161, 610), "CC BY 4.0",
          "abdominal CT", "LiTS"),
    _info("nodulemnist3d", 3, "binary-class", 1, ["benign", "malignant"], (1158, 165, 310), "CC BY 4.0", "chest CT",
          "LIDC-IDRI"),
    _info("adrenalmnist3d", 3, "binary-class", 1, ["normal", "hyperplasia"], (1188, 98, 298), "CC BY 4.0",
          "shape from abdominal CT", "Zhongshan Hospital"),
    _info("fracturemnist3d", 3, "multi-class", 1, ["buckle rib fracture", "nondisplaced rib fracture",
          "displaced rib fracture"], (1027, 103, 240), "CC BY 4.0", "chest CT", "RibFrac"),
    _info("vesselmnist3d", 3, "binary-class", 1, ["vessel", "aneurysm"], (1335, 191, 382), "CC BY 4.0",
          "shape from brain MRA", "IntrA"),
    _info("synapsemnist3d", 3, "binary-class", 1, ["inhibitory synapse", "excitatory synapse"], (1230, 177, 352),
          "CC BY 4.0", "electron microscopy", "MitoEM"),
]}


def _check_flag_size(flag: str, size: int) -> MedMNISTInfo:
    key = str(flag).lower()
    if key not in MEDMNIST_FLAGS:
        two = ", ".join(f for f, i in MEDMNIST_FLAGS.items() if i.dim == 2)
        three = ", ".join(f for f, i in MEDMNIST_FLAGS.items() if i.dim == 3)
        raise ConfigError(f"unknown MedMNIST flag {flag!r}; 2D: {two}; 3D: {three}")
    info = MEDMNIST_FLAGS[key]
    if isinstance(size, bool) or size not in info.sizes:
        raise ConfigError(f"{key} comes in sizes {', '.join(map(str, info.sizes))}, not {size!r}")
    return info


def medmnist_filename(flag: str, size: int = 28) -> str:
    """``pathmnist.npz`` for size 28, ``pathmnist_64.npz`` otherwise (the official names)."""
    info = _check_flag_size(flag, size)
    return f"{info.flag}.npz" if size == 28 else f"{info.flag}_{size}.npz"


def medmnist_url(flag: str, size: int = 28) -> str:
    """The Zenodo download link of one file (for messages; medbench never downloads it)."""
    return f"{ZENODO_RECORD}/files/{medmnist_filename(flag, size)}?download=1"


def _roots(root: str | os.PathLike | None) -> list[Path]:
    if root is not None:
        return [Path(root).expanduser()]
    from medbench.settings import data_dir

    base = data_dir()
    return [base / "medmnist", base]


def medmnist_path(flag: str, size: int = 28, root: str | os.PathLike | None = None) -> Path:
    """Where the file is (first existing of ``<data_dir>/medmnist/`` and ``<data_dir>/``), or where it should go."""
    name = medmnist_filename(flag, size)
    roots = _roots(root)
    for r in roots:
        if (r / name).is_file():
            return r / name
    return roots[0] / name


def available_medmnist(root: str | os.PathLike | None = None) -> list[tuple[str, int]]:
    """``(flag, size)`` pairs whose file is present in the data directory."""
    found = []
    for flag, info in MEDMNIST_FLAGS.items():
        for size in info.sizes:
            if medmnist_path(flag, size, root).is_file():
                found.append((flag, size))
    return found


def load_medmnist(flag: str, size: int = 28, split: str = "train", *,
                  root: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One split of a MedMNIST dataset.

    Args:
        flag: e.g. ``"pneumoniamnist"`` or ``"nodulemnist3d"`` (see :data:`MEDMNIST_FLAGS`).
        size: 28, 64, 128 or 224 for 2D; 28 or 64 for 3D.
        split: ``"train"``, ``"val"`` or ``"test"`` (``"valid"``/``"validation"`` accepted).
        root: folder holding the ``.npz`` (default: ``<data_dir>/medmnist`` then ``<data_dir>``).

    Returns:
        ``(images, labels)``: images uint8 ``(N, H, W)``, ``(N, H, W, 3)`` or ``(N, D, H, W)``;
        labels int64 ``(N, 1)`` (``(N, 14)`` for chestmnist).

    Raises:
        ConfigError: unknown flag, size or split.
        DataNotFoundError: the file is absent (the message names it, the folder and the download link).
        DataError: the file is corrupt or its arrays do not have the documented layout.
    """
    info = _check_flag_size(flag, size)
    split_key = _SPLIT_ALIASES.get(str(split).lower(), str(split).lower())
    if split_key not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    path = medmnist_path(info.flag, size, root)
    if not path.is_file():
        raise DataNotFoundError(
            f"MedMNIST file {path.name} not found in {path.parent}. Download it from {HOMEPAGE} (Zenodo: "
            f"{medmnist_url(info.flag, size)}) and put it at {path}; set $MEDBENCH_DATA_DIR to use another data "
            f"directory. Licence: {info.licence}.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            wanted = (f"{split_key}_images", f"{split_key}_labels")
            missing = [k for k in wanted if k not in keys]
            if missing:
                raise DataError(f"{path} lacks {', '.join(missing)} (it has {', '.join(sorted(keys)) or 'nothing'}); "
                                "a MedMNIST file holds train_/val_/test_ images and labels. Download it again.")
            images = np.asarray(npz[wanted[0]])
            labels = np.asarray(npz[wanted[1]])
    except DataError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as exc:
        raise DataError(f"cannot read MedMNIST file {path}: {type(exc).__name__}: {exc}. The download is "
                        f"truncated or corrupt; download it again from {medmnist_url(info.flag, size)}.") from exc
    if labels.ndim == 1:
        labels = labels[:, None]
    _validate(info, size, split_key, images, labels, path)
    return images, labels.astype(np.int64, copy=False)


def _validate(info: MedMNISTInfo, size: int, split: str, images: np.ndarray, labels: np.ndarray, path: Path):
    where = f"{path} [{split}]"
    if info.dim == 2:
        expected = (size, size) if info.n_channels == 1 else (size, size, info.n_channels)
    else:
        expected = (size, size, size)
    if images.ndim != 1 + len(expected) or tuple(images.shape[1:]) != expected:
        raise DataError(f"{where}: images have shape {images.shape}, expected (N, {', '.join(map(str, expected))}) "
                        f"for {info.flag} at size {size}. Is the file name right for its size?")
    if images.dtype.kind == "f":
        bad = ~np.isfinite(images)
        if bad.any():
            raise DataError(f"{where}: {int(bad.sum())} image values are NaN or inf.")
    n_lab = info.n_classes if info.multi_label else 1
    if labels.shape != (images.shape[0], n_lab):
        raise DataError(f"{where}: labels have shape {labels.shape}, expected ({images.shape[0]}, {n_lab}) "
                        f"to match {images.shape[0]} images.")
    if labels.size:
        if labels.dtype.kind == "f" and (~np.isfinite(labels)).any():
            raise DataError(f"{where}: labels hold NaN or inf.")
        hi = 1 if info.multi_label else info.n_classes - 1
        if labels.min() < 0 or labels.max() > hi:
            raise DataError(f"{where}: label values span {labels.min()}..{labels.max()}, expected 0..{hi} "
                            f"for {info.flag} ({info.task}).")


def to_channels_first(images: np.ndarray) -> np.ndarray:
    """Images as ``(N, C, H, W)``: ``(N, H, W)`` -> ``(N, 1, H, W)``; ``(N, H, W, 3)`` (RGB, MedMNIST) ->
    ``(N, 3, H, W)``; ``(N, C, H, W)`` unchanged.

    Raises:
        DataError: any other number of dimensions.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        return images[:, None]
    if images.ndim == 4 and images.shape[-1] in (3, 4) and images.shape[1] not in (1, 3, 4):
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    if images.ndim == 4:
        return images
    raise DataError(f"images must be (N, H, W), (N, H, W, 3) or (N, C, H, W); got shape {images.shape}")


def medmnist_train_test(flag: str, size: int = 28, *, max_train: int | None = None, seed: int = 0,
                        root: str | os.PathLike | None = None):
    """A 2D MedMNIST dataset as ``(train, test)`` arrays ready for a classifier.

    The authors' ``train`` and ``val`` splits are joined into one training set (a classifier
    holds out its own validation part), optionally subsampled to ``max_train`` images (the
    kept images stay in file order); ``test`` is the authors' test split. MedMNIST ships no
    patient ids, so each image is its own group (test groups start at 10**7, apart from
    the training ones).

    Args:
        flag: a 2D MedMNIST flag, e.g. ``"pneumoniamnist"``.
        size: 28, 64, 128 or 224.
        max_train: keep at most this many training images (drawn with ``seed``); ``None``: all.
        seed: seed of the subsample.
        root: folder holding the ``.npz`` (see :func:`load_medmnist`).

    Returns:
        ``((images, labels, groups), (images, labels, groups))`` for train and test: images
        uint8 ``(N, C, H, W)``; labels int64 ``(N,)`` (``(N, L)`` 0/1 for multi-label
        ChestMNIST); groups int64 ``(N,)``.

    Raises:
        ConfigError: a 3D flag, or ``max_train`` < 1 (and see :func:`load_medmnist`).
    """
    info = _check_flag_size(flag, size)
    if info.dim != 2:
        raise ConfigError(f"{info.flag} is a 3D dataset; medmnist_train_test reads 2D flags "
                          f"({', '.join(f for f, i in MEDMNIST_FLAGS.items() if i.dim == 2)})")
    if max_train is not None and max_train < 1:
        raise ConfigError(f"max_train must be a positive number of images or None, got {max_train!r}")
    parts = {s: load_medmnist(info.flag, size=size, split=s, root=root) for s in SPLITS}

    def labels_of(y):
        return y if info.multi_label else y[:, 0]

    rng = np.random.default_rng(seed)
    images = to_channels_first(np.concatenate([parts["train"][0], parts["val"][0]]))
    labels = labels_of(np.concatenate([parts["train"][1], parts["val"][1]]))
    if max_train is not None:
        keep = np.sort(rng.permutation(len(labels))[:max_train])
        images, labels = images[keep], labels[keep]
    test_images, test_labels = to_channels_first(parts["test"][0]), labels_of(parts["test"][1])
    return ((images, labels, np.arange(len(labels))),
            (test_images, test_labels, 10**7 + np.arange(len(test_labels))))
