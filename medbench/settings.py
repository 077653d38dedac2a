"""Seeds, device choice and the data directory.

Everything else in medbench may import this module; it imports nothing from medbench
but :mod:`medbench.errors`.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np

from medbench.errors import ConfigError

DATA_DIR_ENV = "MEDBENCH_DATA_DIR"
DEVICE_ENV = "MEDBENCH_DEVICE"
_DEVICE_CHOICES = ("cuda", "mps", "cpu")


def check_seed(seed, name: str = "seed") -> int:
    """``seed`` as a plain int; anything but a non-negative integer raises :class:`ConfigError`."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"{name} must be a non-negative integer, got {seed!r}")
    return int(seed)


def parse_value(text: str):
    """A parameter value from text: a Python literal (``2e-3``, ``'lung'``, ``True``), else YAML, else the text.

    Python literals first, because YAML 1.1 reads ``2e-3`` (no dot) as a string. The one
    parser of ``medbench report -p KEY=VALUE`` and ``medbench train ... --set KEY=VALUE``.
    """
    import ast

    import yaml

    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_override(item: str, option: str = "--set") -> tuple[str, object]:
    """``"KEY=VALUE"`` -> ``(KEY, parse_value(VALUE))``; no ``=`` raises :class:`ConfigError`."""
    if "=" not in item:
        raise ConfigError(f"{option} expects KEY=VALUE, got {item!r}")
    key, value = item.split("=", 1)
    return key.strip(), parse_value(value)


def seed_everything(seed: int, deterministic: bool = True) -> int:
    """Seed Python, NumPy and torch (all devices) and ask torch for deterministic kernels.

    Args:
        seed: a non-negative integer.
        deterministic: also call ``torch.use_deterministic_algorithms(True, warn_only=True)``
            and turn off cuDNN benchmarking, so reruns give the same numbers.

    Returns:
        The seed, so a notebook can print or record it.
    """
    seed = check_seed(seed)
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds CPU, CUDA and MPS generators
    os.environ["PYTHONHASHSEED"] = str(seed)
    if deterministic:
        # warn_only: some ops (e.g. a few CUDA scatter kernels) have no deterministic
        # version; a warning is more useful to a student than a crash.
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return seed


def get_device(prefer: str | None = None):
    """Pick the torch device: ``prefer``, else ``$MEDBENCH_DEVICE``, else cuda > mps > cpu.

    Args:
        prefer: ``"cuda"``, ``"mps"``, ``"cpu"`` (or ``"cuda:1"``), or ``None`` for automatic.

    Raises:
        ConfigError: the requested device is unknown or not available here.
    """
    import torch

    choice = prefer or os.environ.get(DEVICE_ENV) or None
    if choice is None or choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = str(choice).split(":")[0]
    if kind not in _DEVICE_CHOICES:
        raise ConfigError(
            f"device {choice!r} is unknown; use one of {', '.join(_DEVICE_CHOICES)} or 'auto' "
            f"(set by argument or ${DEVICE_ENV})"
        )
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
    }
    if not available[kind]:
        raise ConfigError(f"device {choice!r} was requested but is not available on this machine; use 'cpu' or 'auto'")
    return torch.device(choice)


def data_dir(create: bool = True) -> Path:
    """The directory where datasets that users download themselves live.

    ``$MEDBENCH_DATA_DIR`` if set, else the user cache directory
    (e.g. ``~/.cache/medbench`` on Linux).
    """
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        path = Path(env).expanduser()
    else:
        from platformdirs import user_cache_dir

        path = Path(user_cache_dir("medbench"))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
