"""Encryption at rest: a dataset folder as one AES-GCM archive, keyed by a passphrase through scrypt.

Archive layout (``.mbv``)::

    b"MBVAULT1" | uint32 header length | header (JSON: version, kdf parameters, salt, file count)
    check entry | entry 0 | entry 1 | ...        each entry: 12-byte nonce | uint64 length | ciphertext+tag

- Key: ``scrypt(passphrase, salt, n=2**15, r=8, p=1, length=32)`` (RFC 7914; ~32 MiB and tens of
  milliseconds per derivation, so every guess at a passphrase costs an attacker the same); a fresh
  16-byte salt per archive.
- Each entry is AES-256-GCM (NIST SP 800-38D) with a **fresh random 96-bit nonce** and the header plus
  the entry's index as associated data: editing any byte, the header, or reordering / dropping
  entries makes decryption fail. File names are encrypted with their contents (names can be PHI).
- The first entry encrypts a fixed token: if it fails to open, the passphrase is wrong (or the header
  was altered) and nothing else is tried.
- Decryption checks every entry in memory before writing any file, and writes each output
  atomically: no plaintext temporary file is left behind, on success or on failure.
Every failure is a :class:`medbench.errors.VaultError` naming the archive and what to do.
"""
from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path

from medbench.errors import ConfigError, DataNotFoundError, VaultError

__all__ = ["SCRYPT_PARAMS", "derive_key", "encrypt_folder", "open_archive", "decrypt_archive"]

MAGIC = b"MBVAULT1"
#: scrypt cost parameters written into every archive (RFC 7914 section 2 recommends r=8, p=1).
SCRYPT_PARAMS = {"n": 2 ** 15, "r": 8, "p": 1, "length": 32}
_CHECK = b"medbench vault key check"


def derive_key(passphrase: str | bytes, salt: bytes, n: int = 2 ** 15, r: int = 8, p: int = 1, length: int = 32) -> bytes:
    """The AES key: scrypt(passphrase, salt) with the given cost (``n`` a power of 2)."""
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    if isinstance(passphrase, str):
        passphrase = passphrase.encode("utf-8")
    if not passphrase:
        raise ConfigError("the passphrase is empty; choose a long passphrase and keep it apart from the archive.")
    return Scrypt(salt=salt, length=length, n=n, r=r, p=p).derive(passphrase)


def _files(src: Path) -> list[tuple[str, Path]]:
    if src.is_file():
        return [(src.name, src)]
    return [(p.relative_to(src).as_posix(), p) for p in sorted(src.rglob("*")) if p.is_file()]


def encrypt_folder(src: str | os.PathLike, archive: str | os.PathLike, passphrase: str | bytes, *,
                   scrypt_n: int = SCRYPT_PARAMS["n"], progress: bool = False) -> dict:
    """Encrypt a file or every file under a folder into one archive (written atomically).

    Args:
        src: a file or a folder (read recursively).
        archive: the archive to write (parent folders created).
        passphrase: the secret; the key is derived with scrypt.
        scrypt_n: scrypt's cost ``n`` (a power of 2; stored in the archive).
        progress: tqdm bar over files.

    Returns:
        ``{"files": count, "bytes": plaintext bytes, "archive": path, "kdf": parameters}``.
    """
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    src, archive = Path(src).expanduser(), Path(archive).expanduser()
    if not src.exists():
        raise DataNotFoundError(f"{src} does not exist; pass the file or folder to encrypt.")
    files = _files(src)
    salt = os.urandom(16)
    kdf = dict(SCRYPT_PARAMS, n=int(scrypt_n))
    header = json.dumps({"version": 1, "cipher": "AES-256-GCM", "kdf": "scrypt", **kdf,
                         "salt": salt.hex(), "files": len(files)}, sort_keys=True).encode()
    aes = AESGCM(derive_key(passphrase, salt, kdf["n"], kdf["r"], kdf["p"], kdf["length"]))
    archive.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{archive.name}.", suffix=".part", dir=archive.parent)
    total = 0
    it = files
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(files, desc="encrypt", unit="file")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(MAGIC + struct.pack(">I", len(header)) + header)

            def put(index: int, plaintext: bytes) -> None:
                nonce = os.urandom(12)  # fresh per entry: GCM must never reuse a nonce under one key
                ct = aes.encrypt(nonce, plaintext, header + struct.pack(">q", index))
                fh.write(nonce + struct.pack(">Q", len(ct)) + ct)

            put(-1, _CHECK)
            for i, (name, path) in enumerate(it):
                data = path.read_bytes()
                total += len(data)
                put(i, struct.pack(">H", len(name.encode())) + name.encode() + data)
        os.replace(tmp, archive)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"files": len(files), "bytes": total, "archive": str(archive), "kdf": {k: kdf[k] for k in ("n", "r", "p")}}


def open_archive(archive: str | os.PathLike, passphrase: str | bytes) -> dict[str, bytes]:
    """Decrypt and authenticate every entry in memory: ``{relative path: bytes}``. Nothing touches the disk.

    Raises:
        VaultError: not an archive, truncated, wrong passphrase, or any byte altered (the entry is named).
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    archive = Path(archive).expanduser()
    if not archive.is_file():
        raise DataNotFoundError(f"archive {archive} does not exist.")
    raw = archive.read_bytes()
    if raw[:8] != MAGIC or len(raw) < 12:
        raise VaultError(f"{archive} is not a medbench vault archive (no {MAGIC!r} header).")
    (hlen,) = struct.unpack(">I", raw[8:12])
    header = raw[12:12 + hlen]
    try:
        h = json.loads(header)
        salt, n_files = bytes.fromhex(h["salt"]), int(h["files"])
        key = derive_key(passphrase, salt, int(h["n"]), int(h["r"]), int(h["p"]), int(h["length"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise VaultError(f"{archive}: the header is damaged ({exc}); the archive cannot be opened.") from exc
    aes = AESGCM(key)
    pos = 12 + hlen
    out: dict[str, bytes] = {}
    for index in range(-1, n_files):
        if pos + 20 > len(raw):
            raise VaultError(f"{archive} is truncated: entry {index + 1} of {n_files} is missing.")
        nonce = raw[pos:pos + 12]
        (clen,) = struct.unpack(">Q", raw[pos + 12:pos + 20])
        ct = raw[pos + 20:pos + 20 + clen]
        pos += 20 + clen
        try:
            pt = aes.decrypt(nonce, ct, header + struct.pack(">q", index))
        except InvalidTag:
            if index == -1:
                raise VaultError(f"{archive}: wrong passphrase (or the archive header was altered); nothing was "
                                 "decrypted.") from None
            raise VaultError(f"{archive}: entry {index} failed authentication: the archive was altered or "
                             "damaged after encryption. Nothing was written; restore it from a backup.") from None
        if index >= 0:
            (nlen,) = struct.unpack(">H", pt[:2])
            out[pt[2:2 + nlen].decode()] = pt[2 + nlen:]
    if pos != len(raw):
        raise VaultError(f"{archive}: {len(raw) - pos} unexpected bytes after the last entry (the archive was altered).")
    return out


def decrypt_archive(archive: str | os.PathLike, out: str | os.PathLike, passphrase: str | bytes) -> list[Path]:
    """Decrypt an archive into folder ``out``: every entry is authenticated first, then files are written atomically.

    Returns:
        the written paths. Raises :class:`VaultError` (nothing written) when the archive does not authenticate.
    """
    files = open_archive(archive, passphrase)
    out = Path(out).expanduser()
    written = []
    for name, data in files.items():
        dst = (out / name).resolve()
        if out.resolve() not in dst.parents:
            raise VaultError(f"{archive}: entry name {name!r} points outside the output folder; refusing to write it.")
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, dst)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(dst)
    return written
