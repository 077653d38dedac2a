"""Pseudonyms for patient identifiers: keyed HMAC-SHA256, and why a plain hash is not one.

A pseudonym must be *stable* (the same patient gets the same code in every extract, so records
can still be linked) and *unlinkable without the key* (whoever holds only the data cannot
compute it from an identifier they know). A keyed hash, HMAC-SHA256 (RFC 2104), gives both: the
key is a secret held by the data steward. A plain SHA-256 of a medical record number (MRN) gives
only the first: a 7-digit MRN has 10^7 possible values, and hashing them all takes seconds
(:func:`recover_from_plain_hash`), after which every "pseudonym" is a lookup.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import time
from pathlib import Path

from medbench.errors import ConfigError

__all__ = ["as_key", "load_key", "pseudonym", "keyed_digest", "plain_hash", "recover_from_plain_hash"]

#: Alphabet of readable codes: Crockford base 32 (no I, L, O, U: nothing to misread).
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
MIN_KEY_BYTES = 16


def as_key(key: str | bytes) -> bytes:
    """The secret as bytes; raises ConfigError for an empty or too-short key (< 16 bytes)."""
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, (bytes, bytearray)) or len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"the pseudonym key must be a secret of at least {MIN_KEY_BYTES} bytes (got "
                          f"{len(key) if isinstance(key, (bytes, bytearray)) else type(key).__name__}); "
                          "generate one with `python -c \"import secrets; print(secrets.token_hex(32))\"` "
                          "and keep it apart from the data.")
    return bytes(key)


def load_key(path: str | os.PathLike | None = None, env: str = "MEDBENCH_DEID_KEY") -> bytes:
    """Read the secret from a key file (its bytes, surrounding whitespace stripped) or the ``env`` variable.

    Raises:
        ConfigError: neither is given, the file is absent, or the key is too short.
    """
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ConfigError(f"key file {p} does not exist; write a secret of at least {MIN_KEY_BYTES} bytes to it.")
        return as_key(p.read_bytes().strip())
    if os.environ.get(env):
        return as_key(os.environ[env])
    raise ConfigError(f"no key: pass --key-file PATH or set ${env} to a secret of at least {MIN_KEY_BYTES} bytes "
                      "(the same key gives the same pseudonyms, UIDs and date shifts in every run).")


def keyed_digest(key: str | bytes, value: str, purpose: str = "pseudonym") -> bytes:
    """HMAC-SHA256 of ``purpose`` + ``value`` under ``key`` (32 bytes). ``purpose`` separates uses of one key."""
    msg = f"{purpose}\x00{value}".encode("utf-8")
    return hmac.new(as_key(key), msg, hashlib.sha256).digest()


def pseudonym(identifier: str, key: str | bytes, length: int = 12, prefix: str = "P") -> str:
    """A readable, stable pseudonym: HMAC-SHA256(key, identifier) in Crockford base 32, truncated.

    Args:
        identifier: the patient identifier (MRN, national number ...); surrounding spaces are ignored.
        key: the secret (>= 16 bytes).
        length: base-32 characters kept (5 bits each: 12 -> 60 bits; collisions become likely only
            around 2^30 patients).
        prefix: put in front of the code.

    Returns:
        e.g. ``"P-7K3M9Q2XA0BD"``.
    """
    if not 4 <= int(length) <= 51:
        raise ConfigError(f"length={length}: choose 4..51 base-32 characters (12 is a good default).")
    n = int.from_bytes(keyed_digest(key, str(identifier).strip()), "big")
    chars = []
    for _ in range(int(length)):
        n, r = divmod(n, 32)
        chars.append(_ALPHABET[r])
    code = "".join(chars)
    return f"{prefix}-{code}" if prefix else code


def plain_hash(identifier: str) -> str:
    """SHA-256 hex digest of the identifier: what people often call a pseudonym. It is not one."""
    return hashlib.sha256(str(identifier).encode("utf-8")).hexdigest()


def recover_from_plain_hash(digest: str, digits: int = 7, start: int = 0, stop: int | None = None,
                            progress: bool = False) -> tuple[str | None, float, int]:
    """Recover a zero-padded ``digits``-digit MRN from its plain SHA-256 by enumerating every value.

    Args:
        digest: hex SHA-256 of the MRN string.
        digits: length of the MRN (7 -> 10^7 candidates).
        start, stop: the range of numbers tried (default all ``10**digits``).
        progress: show a tqdm bar (per million).

    Returns:
        ``(mrn or None, seconds, candidates tried)``.
    """
    stop = 10 ** digits if stop is None else int(stop)
    target = bytes.fromhex(digest)
    sha = hashlib.sha256
    fmt = f"{{:0{digits}d}}".format
    t0 = time.perf_counter()
    block = 1_000_000
    it = range(start, stop, block)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="SHA-256 enumeration", unit="M")
    for lo in it:
        for i in range(lo, min(lo + block, stop)):
            s = fmt(i)
            if sha(s.encode()).digest() == target:
                return s, time.perf_counter() - t0, i - start + 1
    return None, time.perf_counter() - t0, stop - start
