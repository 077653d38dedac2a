"""Fixtures of the de-identification tests: pydicom's shipped CT and US files and a test key."""
from __future__ import annotations

import warnings

import pydicom
import pytest
from pydicom.data import get_testdata_file


def _read_testdata(name: str):
    """One of pydicom's shipped test files (no download); None when this pydicom lacks it."""
    path = get_testdata_file(name, download=False)
    if path is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


@pytest.fixture
def key() -> bytes:
    return b"test-key-0123456789abcdef"


@pytest.fixture
def ct():
    return _read_testdata("CT_small.dcm")


@pytest.fixture
def us():
    """An ultrasound file (burned-in text is likely in US); skips when not shipped."""
    ds = _read_testdata("US1_UNCR.dcm")
    if ds is None:
        pytest.skip("US sample not installed")
    return ds
