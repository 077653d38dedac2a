"""The medbench exception family.

Every error a user can cause (bad file, bad parameter, missing data) is a
:class:`MedbenchError` whose message says what was wrong, where, and what to do.
"""
from __future__ import annotations


class MedbenchError(Exception):
    """Base class of every error medbench raises on purpose."""


class ConfigError(MedbenchError, ValueError):
    """A parameter, profile or option is unknown or has the wrong type or value."""


class DataError(MedbenchError):
    """Input data is unusable: corrupt, inconsistent, or holds NaN/inf."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A dataset file is absent; the message names the file, where to put it and its source."""


class ChapterError(MedbenchError):
    """A chapter notebook is missing or breaks the chapter contract."""


class CheckpointError(DataError):
    """A checkpoint file is missing, truncated, corrupt or not a medbench checkpoint."""


class VaultError(DataError):
    """An encrypted archive cannot be opened: wrong passphrase, altered, truncated or not an archive."""
