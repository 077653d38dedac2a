"""AES-GCM archive: round trip, wrong passphrase and tampering give VaultError, no plaintext left on disk."""
from __future__ import annotations

import os

import pytest

from medbench.errors import MedbenchError, VaultError
from medbench.privacy.vault import decrypt_archive, encrypt_folder, open_archive

N = 2 ** 12  # cheap scrypt for tests (the default is 2**15)


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "data"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "patient_Smith.csv").write_text("mrn,name\n0012345,Jane Smith\n")
    (src / "image.bin").write_bytes(os.urandom(5000))
    return src


def test_round_trip(folder, tmp_path):
    info = encrypt_folder(folder, tmp_path / "a.mbv", "correct horse", scrypt_n=N)
    assert info["files"] == 2 and info["kdf"]["n"] == N
    raw = (tmp_path / "a.mbv").read_bytes()
    assert b"Jane Smith" not in raw and b"patient_Smith" not in raw      # names are encrypted too
    files = decrypt_archive(tmp_path / "a.mbv", tmp_path / "out", "correct horse")
    assert {p.relative_to(tmp_path / "out").as_posix() for p in files} == {"sub/patient_Smith.csv", "image.bin"}
    assert (tmp_path / "out" / "image.bin").read_bytes() == (folder / "image.bin").read_bytes()


def test_fresh_nonce_and_salt(folder, tmp_path):
    encrypt_folder(folder, tmp_path / "a.mbv", "pw", scrypt_n=N)
    encrypt_folder(folder, tmp_path / "b.mbv", "pw", scrypt_n=N)
    assert (tmp_path / "a.mbv").read_bytes() != (tmp_path / "b.mbv").read_bytes()


def test_wrong_passphrase(folder, tmp_path):
    encrypt_folder(folder, tmp_path / "a.mbv", "pw", scrypt_n=N)
    with pytest.raises(VaultError, match="wrong passphrase"):
        decrypt_archive(tmp_path / "a.mbv", tmp_path / "out", "PW")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", [-3, -2000, 60])
def test_tampered_byte(folder, tmp_path, where):
    encrypt_folder(folder, tmp_path / "a.mbv", "pw", scrypt_n=N)
    raw = bytearray((tmp_path / "a.mbv").read_bytes())
    raw[where] ^= 0x01
    (tmp_path / "t.mbv").write_bytes(bytes(raw))
    with pytest.raises(MedbenchError):
        decrypt_archive(tmp_path / "t.mbv", tmp_path / "out", "pw")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


def test_truncated_and_not_an_archive(folder, tmp_path):
    encrypt_folder(folder, tmp_path / "a.mbv", "pw", scrypt_n=N)
    raw = (tmp_path / "a.mbv").read_bytes()
    (tmp_path / "t.mbv").write_bytes(raw[:-100])
    with pytest.raises(VaultError):
        open_archive(tmp_path / "t.mbv", "pw")
    (tmp_path / "x.mbv").write_bytes(b"hello")
    with pytest.raises(VaultError, match="not a medbench vault"):
        open_archive(tmp_path / "x.mbv", "pw")
    assert not list(tmp_path.glob(".*.part"))
