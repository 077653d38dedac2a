"""Real DICOM images that ship inside pip packages and load offline.

All come from pydicom's test files and the ``pydicom-data`` package, located with
``pydicom.data.get_testdata_file(name, download=False)`` (never the plural
``get_testdata_files``, which tries the network). Each ``sample_*`` returns the
dictionary of :func:`medbench.data.dicom.read_dicom`.

============  ==========================  ===============================================
function      file                        what it is
============  ==========================  ===============================================
sample_ct     693_UNCR.dcm (693_J2KR.dcm)  512x512 axial head CT, 5 mm, Hounsfield units
                                          (CQ500 case CT-310), padding outside the FOV
sample_mr     emri_small.dcm (JPEG 2000)  Enhanced MR multi-frame, 10 frames of 64x64
                                          head T1 (3 T, T1-TFE)
sample_cr     RG1_UNCR.dcm (RG1_J2KR.dcm) 1841x1955 PA chest radiograph (CR), MONOCHROME1
============  ==========================  ===============================================

``compressed=True`` reads the lossless JPEG 2000 copy of the same image, which exercises
the ``pylibjpeg-openjpeg`` decoder and must give identical values.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medbench.errors import ConfigError, DataNotFoundError

__all__ = ["SAMPLES", "Sample", "sample_path", "sample_ct", "sample_mr", "sample_cr", "load_sample"]


@dataclass(frozen=True)
class Sample:
    """One bundled DICOM sample."""

    key: str
    file: str
    compressed_file: str
    modality: str
    description: str
    source: str
    licence: str


SAMPLES: dict[str, Sample] = {s.key: s for s in [
    Sample("ct", "693_UNCR.dcm", "693_J2KR.dcm", "CT",
           "512x512 axial head CT slice, 5 mm, 0.48 mm pixels, Hounsfield units (PixelPaddingValue outside the "
           "reconstruction circle)",
           "CQ500 head-CT collection (qure.ai), case CQ500-CT-310; redistributed in pydicom-data",
           "CC BY-NC-SA 4.0 (CQ500); pydicom-data: MIT"),
    Sample("mr", "emri_small.dcm", "emri_small_jpeg_2k_lossless.dcm", "MR",
           "Enhanced MR Image Storage, multi-frame: 10 frames of 64x64, head, 3 T T1-TFE (anonymised, downsampled)",
           "pydicom test files (Philips 3 T research acquisition)", "MIT (pydicom test data)"),
    Sample("cr", "RG1_UNCR.dcm", "RG1_J2KR.dcm", "CR",
           "Computed radiography, PA chest, 1841x1955, 15-bit MONOCHROME1",
           "NEMA DICOM WG-04 compression test set (RG1); redistributed in pydicom-data",
           "NEMA WG-04 test set; pydicom-data: MIT"),
]}


def sample_path(key: str, compressed: bool = False) -> Path:
    """Local path of a bundled sample (``"ct"``, ``"mr"``, ``"cr"``); nothing is downloaded.

    Raises:
        ConfigError: unknown key.
        DataNotFoundError: pydicom / pydicom-data is not installed.
    """
    if key not in SAMPLES:
        raise ConfigError(f"unknown sample {key!r}; choose one of {', '.join(SAMPLES)}")
    name = SAMPLES[key].compressed_file if compressed else SAMPLES[key].file
    try:
        from pydicom.data import get_testdata_file
    except ImportError as exc:  # pragma: no cover - pydicom is a dependency
        raise DataNotFoundError("pydicom is not installed: pip install pydicom pydicom-data") from exc
    path = get_testdata_file(name, download=False)
    if path is None:
        raise DataNotFoundError(f"DICOM sample {name} is not installed locally; it ships in the pydicom-data package "
                                "(pip install pydicom-data), which medbench depends on.")
    return Path(path)


def load_sample(key: str, compressed: bool = False) -> dict:
    """``read_dicom`` of a bundled sample, with ``meta["sample"]`` describing its source and licence."""
    from medbench.data.dicom import read_dicom

    d = read_dicom(sample_path(key, compressed))
    s = SAMPLES[key]
    d["meta"]["sample"] = {"key": s.key, "file": Path(d["meta"]["path"]).name, "description": s.description,
                           "source": s.source, "licence": s.licence}
    return d


def sample_ct(compressed: bool = False) -> dict:
    """512x512 head CT slice in HU: ``image`` (512, 512) float32, ``spacing`` (0.479, 0.479) mm.

    ``padding_mask`` marks the area outside the reconstruction circle (-3024 HU), which is
    not air: exclude it before measuring (air around the head is about -1000 HU).
    """
    return load_sample("ct", compressed)


def sample_mr(compressed: bool = False) -> dict:
    """Enhanced (multi-frame) head MR: ``image`` (64, 64, 10) float32, arbitrary units."""
    return load_sample("mr", compressed)


def sample_cr(compressed: bool = False) -> dict:
    """PA chest radiograph: ``image`` (1841, 1955) float32, MONOCHROME1 inverted so bone is bright.

    The file carries no valid pixel spacing (``meta["spacing_source"]`` says so), so spacing is 1.
    """
    return load_sample("cr", compressed)
