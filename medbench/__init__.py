"""medbench: a Jupyter-native workbench for clinical data science."""
from __future__ import annotations

from medbench.errors import ChapterError, CheckpointError, ConfigError, DataError, DataNotFoundError, MedbenchError
from medbench.record import record
from medbench.settings import data_dir, get_device, seed_everything

__version__ = "0.1.0"

__all__ = [
    "ChapterError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DataNotFoundError",
    "MedbenchError",
    "data_dir",
    "get_device",
    "record",
    "seed_everything",
    "__version__",
]
