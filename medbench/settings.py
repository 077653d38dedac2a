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


def parse_sizes(name: str, text, n: int | None = None, minimum: int = 1) -> tuple[int, ...]:
    """``"64x64x40"`` or ``"16,32,64"`` (or a sequence) -> a tuple of ints.

    Fewer/more than ``n`` sizes, a size below ``minimum`` or text that is not integers raises
    :class:`ConfigError` naming the parameter ``name``.
    """
    import re

    try:
        sizes = tuple(int(v) for v in (re.split(r"[x,]", text.strip().lower()) if isinstance(text, str) else text))
    except (TypeError, ValueError, AttributeError):
        sizes = ()
    if not sizes or min(sizes) < minimum or (n is not None and len(sizes) != n):
        raise ConfigError(f"{name} must be {n or 'some'} integers >= {minimum} joined by 'x' or ',' "
                          f"(e.g. {'x'.join(['48', '48', '32'][:n or 3])!r}), got {text!r}")
    return sizes


def parse_override(item: str, option: str = "--set") -> tuple[str, object]:
    """``"KEY=VALUE"`` -> ``(KEY, parse_value(VALUE))``; no ``=`` raises :class:`ConfigError`."""
    if "=" not in item:
        raise ConfigError(f"{option} expects KEY=VALUE, got {item!r}")
    key, value = item.split("=", 1)
    return key.strip(), parse_value(value)


class TaskConfig:
    """Base of a task's ``@dataclass`` config: dicts, YAML files and ``KEY=VALUE`` overrides.

    Subclasses are dataclasses whose ``__post_init__`` validates the values; this class adds
    the ways to build and copy them, so every ``medbench train <task>`` reads its config alike.
    """

    @classmethod
    def from_dict(cls, d: dict):
        """Build from a dict; unknown keys raise :class:`ConfigError` naming the valid ones."""
        import dataclasses

        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"unknown {cls.__name__} key(s) {unknown}; valid keys: {sorted(names)}")
        return cls(**d)

    @classmethod
    def from_yaml(cls, path, overrides=()):
        """Read a YAML (or JSON) file of config keys, then apply ``KEY=VALUE`` overrides (:func:`parse_value`).

        Raises:
            DataNotFoundError: the file does not exist. ConfigError: bad YAML, keys or values.
        """
        import yaml

        from medbench.errors import DataNotFoundError

        path = Path(path)
        if not path.is_file():
            raise DataNotFoundError(f"config file {path} does not exist; write a YAML file with {cls.__name__} keys "
                                    f"(see its docstring), e.g. 'epochs: 40'")
        try:
            d = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
        if not isinstance(d, dict):
            raise ConfigError(f"{path}: the config must be a mapping of {cls.__name__} keys, got {type(d).__name__}")
        return cls.from_dict({**d, **dict(parse_override(item) for item in overrides)})

    def to_dict(self) -> dict:
        """Plain values (tuples as lists), ready for YAML or JSON."""
        import dataclasses

        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    def replace(self, **changes):
        """A copy with some keys changed (validated like :meth:`from_dict`)."""
        return type(self).from_dict({**self.to_dict(), **changes})


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
