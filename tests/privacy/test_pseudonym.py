"""Keyed pseudonyms are stable and key-dependent; a plain hash of a short MRN is recovered by enumeration."""
from __future__ import annotations

import pytest

from medbench.errors import ConfigError
from medbench.privacy.pseudonym import load_key, plain_hash, pseudonym, recover_from_plain_hash

KEY = "a-secret-key-of-32-bytes-0123456"


def test_stable_and_readable():
    a = pseudonym("0012345", KEY)
    assert a == pseudonym("0012345", KEY) == pseudonym(" 0012345 ", KEY)
    assert a.startswith("P-") and len(a) == 14 and not set(a[2:]) & set("ILOU")


def test_key_and_identifier_dependence():
    assert pseudonym("0012345", KEY) != pseudonym("0012345", KEY + "x")
    codes = {pseudonym(f"{i:07d}", KEY) for i in range(2000)}
    assert len(codes) == 2000


def test_short_key_and_missing_key(tmp_path, monkeypatch):
    with pytest.raises(ConfigError):
        pseudonym("1", "short")
    monkeypatch.delenv("MEDBENCH_DEID_KEY", raising=False)
    with pytest.raises(ConfigError, match="--key-file"):
        load_key(None)
    f = tmp_path / "k"
    f.write_text(KEY + "\n")
    assert load_key(f) == KEY.encode()


def test_plain_hash_is_recovered():
    mrn, seconds, tried = recover_from_plain_hash(plain_hash("0031337"), digits=7, stop=40_000)
    assert mrn == "0031337" and tried == 31338 and seconds >= 0
    assert recover_from_plain_hash(plain_hash("9999999"), digits=7, stop=1000)[0] is None
