"""One training loop for classification, segmentation and sequence models.

:func:`fit_gan` is the one adversarial loop (two optimisers, alternating steps).
:func:`fit` trains any ``torch.nn.Module`` with progress bars (``tqdm.auto``), validation
every epoch, early stopping, learning-rate schedules, best-model selection, callbacks,
atomic checkpoints with resume, mixed precision and DistributedDataParallel under
``torchrun``. :func:`predict` runs a model over a loader and returns the concatenated
outputs and targets.

Batch convention
----------------
Each batch a loader yields is turned into ``(inputs, targets)``:

- a tuple or list ``(inputs, targets)`` (``TensorDataset`` style; extra items are ignored);
- a dict (MONAI style): ``inputs = batch[input_key]`` and ``targets = batch[target_key]``
  (defaults ``"image"`` and ``"label"``);
- anything else: pass ``batch_fn(batch) -> (inputs, targets)``.

``inputs`` may be a tensor (``model(inputs)``), a tuple/list of tensors
(``model(*inputs)``, e.g. ``(padded_sequences, lengths)`` for a sequence model) or a dict
(``model(**inputs)``). Tensors are moved to the device; non-tensors (e.g. lengths as a
list) pass through. The loss is ``loss_fn(outputs, targets)``. Targets must already have
the dtype/shape the loss expects (e.g. ``(B,)`` int64 for ``CrossEntropyLoss``, ``(B, 1)``
float for ``BCEWithLogitsLoss``, ``(B, 1, H, W[, D])`` for MONAI ``DiceCELoss``).

Metrics
-------
``metrics={"auroc": fn}`` where ``fn(outputs, targets) -> float`` receives the
*concatenated* validation outputs and targets (float32 CPU tensors, outputs are raw model
outputs such as logits), or an object with ``reset()``, ``update(outputs, targets)`` and
``compute() -> float`` (for segmentation, where concatenating every volume would be
wasteful). Their values appear in the history as ``val_<name>``.

Callbacks
---------
``callbacks`` is a list of :class:`Callback` objects (override ``on_train_begin``,
``on_epoch_begin``, ``on_batch_end``, ``on_epoch_end``, ``on_train_end``) or plain functions
``fn(event, state)`` with ``event`` one of those names without ``on_``. ``state`` is the
:class:`FitState`; set ``state.stop = True`` to stop after the current batch (a widget's
Stop button does this). Callbacks run on rank 0 only under DDP.

Checkpoints
-----------
With ``checkpoint_dir``, ``last.pt`` is written after every epoch (temporary file in the
same folder, fsync, then ``os.replace``: a reader never sees a half-written file) and holds
the model, optimiser, scheduler, grad-scaler, epoch, history, best weights and the RNG
states (Python, NumPy, torch, CUDA, loader generators, MONAI random transforms).
``resume=True`` continues from ``last.pt``: with the same seed and data a resumed run ends
with the same parameters as an uninterrupted one. Files are read with
``torch.load(..., weights_only=True)``; an unreadable file raises :class:`CheckpointError`.

Precision
---------
``precision="fp32" | "bf16" | "amp" | "auto"`` is resolved against the device the model runs
on by :func:`resolve_precision`; :func:`autocast` turns it into the ``torch.autocast``
context (the one helper training, validation, :func:`predict`, tasks and widgets share).

==========  ========  ===========================  ==============================  ==========================
device      fp32      bf16                         amp                             auto
==========  ========  ===========================  ==============================  ==========================
cuda        float32   bfloat16 autocast            float16 autocast + GradScaler   amp
cpu         float32   bfloat16 autocast (fast      ConfigError (no float16 AMP     bf16 if AVX512-BF16/AMX,
                      with AVX512-BF16/AMX)        on the CPU)                     else fp32
mps         float32   bfloat16 autocast on macOS   float16 autocast + GradScaler   fp32 (opt-in only)
                      14+, else fp32 (warning)
other       float32   bfloat16 autocast if torch   float16 autocast + GradScaler   fp32
                      autocasts that device, else  if torch autocasts that device,
                      fp32 (warning)               else fp32 (warning)
==========  ========  ===========================  ==============================  ==========================

"float32" means autocast disabled. :attr:`History.precision` records the resolved choice.

Distributed
-----------
Under ``torchrun`` (``WORLD_SIZE > 1``) :func:`fit` initialises the process group (``gloo``
on CPU, ``nccl`` on CUDA) unless already done, wraps the model in
``DistributedDataParallel``, rebuilds the training loader with a ``DistributedSampler``,
validates on rank 0 and broadcasts the early-stopping decision; progress bars, callbacks
and checkpoints come from rank 0 only.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import os
import random
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

from medbench.errors import CheckpointError, ConfigError, DataError
from medbench.settings import get_device, seed_everything

__all__ = [
    "Callback",
    "FitState",
    "History",
    "fit",
    "predict",
    "load_checkpoint",
    "save_checkpoint",
    "autocast",
    "resolve_precision",
    "bf16_supported",
    "GANHistory",
    "fit_gan",
]

PRECISIONS = ("fp32", "bf16", "amp", "auto")
CHECKPOINT_VERSION = 1
_REQUIRED_KEYS = ("version", "model", "optimizer", "epoch", "history", "rng")


# --------------------------------------------------------------------------------------
# history and state
# --------------------------------------------------------------------------------------
@dataclass
class History:
    """What :func:`fit` returns: one record per finished epoch plus the run's outcome.

    Attributes:
        records: per epoch a dict with ``epoch`` (1-based), ``train_loss``, ``lr``,
            ``seconds`` and, with a validation loader, ``val_loss`` and ``val_<metric>``.
        monitor: the record key used for best-model selection and early stopping.
        mode: ``"min"`` or ``"max"``.
        best_epoch: epoch with the best ``monitor`` value (0 if none finished).
        best_score: that value.
        stopped_early: True if early stopping ended the run.
        stop_reason: ``"completed"``, ``"early_stopping"`` or ``"stopped"`` (callback/Stop button).
        precision: the precision actually used.
        train_seconds: wall-clock seconds spent in :func:`fit` (this call; excludes earlier
            runs that a resume continued).
    """

    records: list[dict] = field(default_factory=list)
    monitor: str = "val_loss"
    mode: str = "min"
    best_epoch: int = 0
    best_score: float = math.nan
    stopped_early: bool = False
    stop_reason: str = "completed"
    precision: str = "fp32"
    train_seconds: float = 0.0

    def __getitem__(self, key: str) -> list:
        return [r.get(key, math.nan) for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    @property
    def epochs(self) -> int:
        return len(self.records)

    def to_frame(self):
        """The records as a ``pandas.DataFrame`` indexed by epoch."""
        import pandas as pd

        return pd.DataFrame(self.records).set_index("epoch") if self.records else pd.DataFrame()

    def to_dict(self) -> dict:
        return {
            "records": [dict(r) for r in self.records],
            "monitor": self.monitor,
            "mode": self.mode,
            "best_epoch": self.best_epoch,
            "best_score": float(self.best_score),
            "stopped_early": self.stopped_early,
            "stop_reason": self.stop_reason,
            "precision": self.precision,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class FitState:
    """Live state handed to callbacks.

    Attributes:
        epoch: current epoch (1-based).
        epochs: total epochs requested.
        batch: batch index within the epoch (1-based) after ``batch_end``.
        n_batches: batches per epoch (``None`` if the loader has no length).
        loss: loss of the last batch.
        record: the last finished epoch's record (after ``epoch_end``).
        history: the :class:`History` so far.
        model, optimizer, scheduler: the objects being trained.
        stop: set to True to stop after the current batch.
    """

    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    n_batches: int | None = None
    loss: float = math.nan
    record: dict | None = None
    history: History | None = None
    model: nn.Module | None = None
    optimizer: Any = None
    scheduler: Any = None
    stop: bool = False


class Callback:
    """Base class: override any of the hooks; each receives the :class:`FitState`."""

    def on_train_begin(self, state: FitState) -> None: ...

    def on_epoch_begin(self, state: FitState) -> None: ...

    def on_batch_end(self, state: FitState) -> None: ...

    def on_epoch_end(self, state: FitState) -> None: ...

    def on_train_end(self, state: FitState) -> None: ...


def _fire(callbacks: Iterable, event: str, state: FitState) -> None:
    for cb in callbacks:
        if isinstance(cb, Callback) or hasattr(cb, f"on_{event}"):
            getattr(cb, f"on_{event}", lambda s: None)(state)
        elif callable(cb):
            cb(event, state)
        else:
            raise ConfigError(f"callback {cb!r} is neither a medbench.training.Callback nor a function(event, state)")


# --------------------------------------------------------------------------------------
# precision
# --------------------------------------------------------------------------------------
def bf16_supported(device: torch.device | str = "cpu") -> bool:
    """True if bfloat16 autocast is usable and fast on ``device``.

    CPU: AVX512-BF16/AMX (oneDNN reports it); CUDA: a GPU with bfloat16 (Ampere+); MPS:
    macOS 14 or newer. Any other device type: False.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # pragma: no cover - old/odd builds
            return False
    if device.type == "mps":
        try:
            return bool(torch.backends.mps.is_macos_or_newer(14, 0))
        except (AttributeError, RuntimeError):  # pragma: no cover - old builds
            return False
    return False


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """Turn ``precision`` into the concrete choice for ``device`` (see the module's table).

    ``"auto"`` becomes ``"amp"`` on CUDA, ``"bf16"`` on CPUs with :func:`bf16_supported`,
    else ``"fp32"`` (MPS and other accelerators: mixed precision is opt-in). A request that
    torch cannot autocast on a non-CPU device (no autocast for that device type, bfloat16 on
    MPS before macOS 14) falls back to ``"fp32"`` with a warning.

    Args:
        precision: ``"fp32"``, ``"bf16"``, ``"amp"`` or ``"auto"``.
        device: the device the model runs on (``torch.device`` or a name such as ``"cuda:0"``).

    Returns:
        ``"fp32"``, ``"bf16"`` or ``"amp"``.

    Raises:
        ConfigError: unknown precision, or ``"amp"`` on the CPU.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r} is unknown; use one of {', '.join(PRECISIONS)}")
    device = torch.device(device)
    kind = device.type
    if precision == "auto":
        if kind == "cuda":
            return "amp"
        return "bf16" if kind == "cpu" and bf16_supported(device) else "fp32"
    if precision == "fp32" or kind == "cuda":
        return precision
    if kind == "cpu":
        if precision == "amp":
            raise ConfigError("precision='amp' (float16 + GradScaler) needs a CUDA (or MPS) device, not the CPU; "
                              "use 'bf16' or 'fp32' (or 'auto')")
        return precision  # explicit bf16 runs everywhere (emulated, slower, without AVX512-BF16/AMX)
    if not torch.amp.is_autocast_available(kind) or (precision == "bf16" and kind == "mps"
                                                     and not bf16_supported(device)):
        warnings.warn(f"precision={precision!r} is not available on {kind} with this torch/OS; running in fp32",
                      stacklevel=2)
        return "fp32"
    return precision


def autocast(precision: str, device: torch.device | str):
    """The autocast context for ``precision`` on the device the model runs on.

    The one place medbench turns a precision name into ``torch.autocast`` (training,
    validation, :func:`predict`, task inference and widgets all call it). ``precision`` is
    resolved with :func:`resolve_precision` against ``device`` itself, so ``"amp"`` works on a
    CUDA model and raises only on the CPU.

    Args:
        precision: ``"fp32"``, ``"bf16"``, ``"amp"`` or ``"auto"``.
        device: the model's device (``torch.device`` or a name).

    Returns:
        A context manager: ``torch.autocast(device.type, dtype=...)`` (float16 for ``"amp"``,
        bfloat16 for ``"bf16"``; its ``fast_dtype`` and ``device`` tell which), disabled
        autocast for ``"fp32"``, or a no-op context on device types torch cannot autocast.

    Raises:
        ConfigError: unknown precision, or ``"amp"`` on the CPU.

    Example:
        >>> with autocast("auto", next(model.parameters()).device):
        ...     logits = model(x)
    """
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    if not torch.amp.is_autocast_available(device.type):
        return contextlib.nullcontext()  # only reachable with fp32 (resolve_precision fell back)
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "amp":
        return torch.autocast(device.type, dtype=torch.float16)
    return torch.autocast(device.type, enabled=False)


def _grad_scaler(precision: str, device: torch.device):
    """A ``GradScaler`` for float16 training (``"amp"``), else None."""
    return torch.amp.GradScaler(device.type) if precision == "amp" else None


# --------------------------------------------------------------------------------------
# batches
# --------------------------------------------------------------------------------------
def _to_device(x, device):
    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    if isinstance(x, (list, tuple)):
        return type(x)(_to_device(v, device) for v in x)
    if isinstance(x, dict):
        return {k: _to_device(v, device) for k, v in x.items()}
    return x


def _split_batch(batch, batch_fn, input_key, target_key):
    if batch_fn is not None:
        return batch_fn(batch)
    if isinstance(batch, dict):
        try:
            return batch[input_key], batch[target_key]
        except KeyError as e:
            raise ConfigError(f"dict batch has keys {sorted(batch)}; fit() looked for input_key={input_key!r} and "
                              f"target_key={target_key!r} - pass the right keys or a batch_fn") from e
    if isinstance(batch, (list, tuple)) and len(batch) >= 2:
        return batch[0], batch[1]
    raise ConfigError(f"cannot split a batch of type {type(batch).__name__} into (inputs, targets); "
                      "yield (inputs, targets) tuples, MONAI dicts, or pass batch_fn")


def _forward(model, inputs):
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (list, tuple)):
        return model(*inputs)
    return model(inputs)


def _batch_size(inputs) -> int:
    if isinstance(inputs, torch.Tensor):
        return int(inputs.shape[0])
    if isinstance(inputs, (list, tuple)) and inputs:
        return _batch_size(inputs[0])
    if isinstance(inputs, dict) and inputs:
        return _batch_size(next(iter(inputs.values())))
    return 1


def _detach_cpu(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return x.float() if x.is_floating_point() else x
    if isinstance(x, (list, tuple)):
        return type(x)(_detach_cpu(v) for v in x)
    return x


def _cat(chunks):
    first = chunks[0]
    if isinstance(first, torch.Tensor):
        if first.ndim == 0:
            return torch.stack(chunks)
        return torch.cat(chunks)
    if isinstance(first, (list, tuple)):
        return type(first)(_cat([c[i] for c in chunks]) for i in range(len(first)))
    return chunks


# --------------------------------------------------------------------------------------
# RNG state (weights_only-safe: tensors, ints, lists, dicts)
# --------------------------------------------------------------------------------------
def _np_state_to_plain(state) -> dict:
    name, keys, pos, has_gauss, cached = state
    return {"name": name, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def _np_state_from_plain(d) -> tuple:
    return (d["name"], d["keys"].numpy().astype(np.uint32), d["pos"], d["has_gauss"], d["cached"])


def _randomizable_transforms(loader) -> list:
    """MONAI random transforms (objects with a NumPy ``R``) reachable from the loader's dataset."""
    found, seen = [], set()

    def walk(obj, depth=0):
        if obj is None or id(obj) in seen or depth > 6:
            return
        seen.add(id(obj))
        if isinstance(getattr(obj, "R", None), np.random.RandomState):
            found.append(obj)
        for attr in ("transform", "transforms", "dataset", "datasets"):
            child = getattr(obj, attr, None)
            if isinstance(child, (list, tuple)):
                for c in child:
                    walk(c, depth + 1)
            elif child is not None and not isinstance(child, (str, bytes, int, float)):
                walk(child, depth + 1)

    walk(getattr(loader, "dataset", None))
    return found


def _loader_generators(loader) -> list[torch.Generator]:
    gens = []
    for obj in (loader, getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None),
                getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        g = getattr(obj, "generator", None)
        if isinstance(g, torch.Generator) and all(g is not h for h in gens):
            gens.append(g)
    return gens


def _get_rng_state(loader) -> dict:
    state = {
        "python": list(_py_state_plain(random.getstate())),
        "numpy": _np_state_to_plain(np.random.get_state()),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loader": [g.get_state() for g in _loader_generators(loader)],
        "transforms": [_np_state_to_plain(t.R.get_state()) for t in _randomizable_transforms(loader)],
    }
    return state


def _py_state_plain(st):
    version, internal, gauss = st
    return [version, list(internal), gauss]


def _set_rng_state(state: dict, loader) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(_np_state_from_plain(state["numpy"]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for g, s in zip(_loader_generators(loader), state.get("loader", [])):
        g.set_state(s)
    for t, s in zip(_randomizable_transforms(loader), state.get("transforms", [])):
        t.R.set_state(_np_state_from_plain(s))


# --------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------
def save_checkpoint(obj: dict, path: str | os.PathLike) -> Path:
    """Write ``obj`` with ``torch.save`` atomically: temp file in the same folder, fsync, ``os.replace``.

    A crash at any moment leaves either the old file or the new one, never a partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Read a checkpoint written by :func:`fit` with ``torch.load(..., weights_only=True)``.

    Raises:
        CheckpointError: the file is missing, truncated, corrupt or lacks the expected keys.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; train with checkpoint_dir=... first "
                              "or pass resume=False")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # zip errors, EOF, unpickling errors all mean the same to a user
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({type(e).__name__}: {str(e)[:200]}); delete it "
            "and retrain, or resume from another copy") from e
    if not isinstance(obj, dict) or any(k not in obj for k in _REQUIRED_KEYS):
        have = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{path} is not a medbench training checkpoint (expected keys {list(_REQUIRED_KEYS)}, "
                              f"found {have})")
    return obj


# --------------------------------------------------------------------------------------
# optimiser / scheduler / distributed helpers
# --------------------------------------------------------------------------------------
def _make_optimizer(optimizer, params, lr, weight_decay):
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if callable(optimizer) and not isinstance(optimizer, str):
        return optimizer(params)
    name = str(optimizer).lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ConfigError(f"optimizer {optimizer!r} is unknown; use 'adam', 'adamw', 'sgd', an optimizer instance "
                      "or a function(params) -> optimizer")


def _make_scheduler(scheduler, optimizer, epochs, steps_per_epoch, lr, mode):
    """Returns (scheduler, step_on) with step_on in {"epoch", "batch", "plateau"}."""
    if scheduler is None:
        return None, "epoch"
    if isinstance(scheduler, str):
        name = scheduler.lower()
        if name == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1)), "epoch"
        if name == "step":
            return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(epochs // 3, 1), gamma=0.1), "epoch"
        if name == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=0.5, patience=2), "plateau"
        if name == "onecycle":
            if not steps_per_epoch:
                raise ConfigError("scheduler='onecycle' needs a training loader with a length")
            return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=max(epochs, 1),
                                                       steps_per_epoch=steps_per_epoch), "batch"
        raise ConfigError(f"scheduler {scheduler!r} is unknown; use None, 'cosine', 'step', 'plateau', 'onecycle' "
                          "or a function(optimizer) -> scheduler")
    sched = scheduler(optimizer) if callable(scheduler) and not hasattr(scheduler, "step") else scheduler
    if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
        return sched, "plateau"
    if isinstance(sched, torch.optim.lr_scheduler.OneCycleLR):
        return sched, "batch"
    return sched, "epoch"


def _dist_env() -> tuple[int, int]:
    """(rank, world_size) from torch.distributed if initialised, else from torchrun's env vars."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _distributed_loader(loader, rank, world, seed):
    from torch.utils.data import DataLoader, RandomSampler
    from torch.utils.data.distributed import DistributedSampler

    if isinstance(getattr(loader, "sampler", None), DistributedSampler):
        return loader
    if not isinstance(loader, DataLoader):
        raise ConfigError("distributed training needs a torch DataLoader (fit() swaps in a DistributedSampler)")
    shuffle = isinstance(loader.sampler, RandomSampler)
    sampler = DistributedSampler(loader.dataset, num_replicas=world, rank=rank, shuffle=shuffle, seed=seed or 0)
    return type(loader)(loader.dataset, batch_size=loader.batch_size, sampler=sampler,
                        num_workers=loader.num_workers, collate_fn=loader.collate_fn,
                        pin_memory=loader.pin_memory, drop_last=loader.drop_last,
                        worker_init_fn=loader.worker_init_fn)


def _improved(score, best, mode, min_delta) -> bool:
    if not math.isfinite(score):
        return False
    if not math.isfinite(best):
        return True
    return score < best - min_delta if mode == "min" else score > best + min_delta


# --------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------
@torch.no_grad()
def predict(model: nn.Module, loader, *, device=None, precision: str = "fp32", activation: str | Callable | None = None,
            batch_fn=None, input_key: str = "image", target_key: str = "label", progress: bool = False):
    """Run ``model`` over ``loader`` in eval mode.

    Args:
        model: the network.
        loader: yields batches following the module's batch convention.
        device: torch device (default: the model's).
        precision: ``"fp32"``, ``"bf16"``, ``"amp"`` or ``"auto"``.
        activation: ``None``, ``"sigmoid"``, ``"softmax"`` (over dim 1) or a function applied to outputs.
        progress: show a tqdm bar.

    Returns:
        ``(outputs, targets)``: concatenated float32/int CPU tensors, e.g. ``(N, C)`` and ``(N,)``.
    """
    from tqdm.auto import tqdm

    if device is None:
        try:
            device = next(model.parameters()).device
        except StopIteration:
            device = torch.device("cpu")
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    was_training = model.training
    model.eval()
    outs, tgts = [], []
    try:
        for batch in tqdm(loader, desc="predict", leave=False, disable=not progress):
            inputs, targets = _split_batch(batch, batch_fn, input_key, target_key)
            with autocast(precision, device):
                out = _forward(model, _to_device(inputs, device))
            outs.append(_detach_cpu(out))
            tgts.append(_detach_cpu(targets))
    finally:
        model.train(was_training)
    if not outs:
        raise DataError("predict() got an empty loader")
    outputs, targets = _cat(outs), _cat(tgts)
    if activation == "sigmoid":
        outputs = torch.sigmoid(outputs)
    elif activation == "softmax":
        outputs = torch.softmax(outputs, dim=1)
    elif callable(activation):
        outputs = activation(outputs)
    elif activation is not None:
        raise ConfigError(f"activation {activation!r} is unknown; use None, 'sigmoid', 'softmax' or a function")
    return outputs, targets


@torch.no_grad()
def _validate(model, loader, loss_fn, metrics, device, precision, batch_fn, input_key, target_key, progress):
    from tqdm.auto import tqdm

    model.eval()
    total, n = 0.0, 0
    plain = {k: m for k, m in metrics.items() if not hasattr(m, "update")}
    stateful = {k: m for k, m in metrics.items() if hasattr(m, "update")}
    for m in stateful.values():
        m.reset()
    outs, tgts = [], []
    for batch in tqdm(loader, desc="  val", leave=False, disable=not progress):
        inputs, targets = _split_batch(batch, batch_fn, input_key, target_key)
        inputs, targets = _to_device(inputs, device), _to_device(targets, device)
        with autocast(precision, device):
            out = _forward(model, inputs)
            loss = loss_fn(out, targets)
        bs = _batch_size(inputs)
        total += float(loss.detach().float()) * bs
        n += bs
        if stateful:
            o, t = _detach_cpu(out), _detach_cpu(targets)
            for m in stateful.values():
                m.update(o, t)
        if plain:
            outs.append(_detach_cpu(out))
            tgts.append(_detach_cpu(targets))
    if n == 0:
        raise DataError("the validation loader yielded no batches")
    result = {"val_loss": total / n}
    if plain:
        o, t = _cat(outs), _cat(tgts)
        for k, fn in plain.items():
            result[f"val_{k}"] = float(fn(o, t))
    for k, m in stateful.items():
        result[f"val_{k}"] = float(m.compute())
    return result


# --------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------
@dataclass
class _Run:
    """What one :func:`fit` call trains with, shared by its epoch helpers (private)."""

    model: nn.Module  # the caller's module (weights are read/written here)
    net: nn.Module  # ``model`` or its DistributedDataParallel wrapper (forward passes go here)
    optimizer: Any
    scheduler: Any
    step_on: str  # "epoch", "batch" or "plateau"
    scaler: Any  # GradScaler for "amp", else None
    device: torch.device
    precision: str
    use_ddp: bool
    is_main: bool
    progress: bool
    steps: int | None  # batches per epoch (after max_batches), None if unknown
    loss_fn: Callable
    grad_clip: float | None
    batch_fn: Callable | None
    input_key: str
    target_key: str
    max_batches: int | None


def fit(
    model: nn.Module,
    train_loader,
    val_loader=None,
    *,
    loss_fn: Callable,
    epochs: int,
    optimizer: str | torch.optim.Optimizer | Callable = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    scheduler: str | Callable | Any = None,
    metrics: dict | None = None,
    monitor: str | None = None,
    mode: str | None = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    restore_best: bool = True,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    precision: str = "auto",
    device=None,
    seed: int | None = None,
    callbacks: Iterable = (),
    progress: bool = True,
    grad_clip: float | None = None,
    batch_fn: Callable | None = None,
    input_key: str = "image",
    target_key: str = "label",
    max_batches: int | None = None,
    distributed: bool | str = "auto",
) -> History:
    """Train ``model`` and return its :class:`History` (the model ends with the best weights).

    Args:
        model: any ``nn.Module``; moved to ``device``.
        train_loader: iterable of batches (see the module docstring for the batch convention).
        val_loader: optional loader evaluated after every epoch.
        loss_fn: ``loss_fn(outputs, targets) -> scalar tensor``.
        epochs: total number of epochs, >= 1 (a resumed run trains the remaining ones).
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"`` (momentum 0.9), an optimizer instance or
            ``fn(params) -> optimizer``.
        lr: learning rate for named optimizers (and the peak for ``"onecycle"``); > 0.
        weight_decay: weight decay for named optimizers; >= 0.
        scheduler: ``None``, ``"cosine"``, ``"step"``, ``"plateau"``, ``"onecycle"``, a scheduler
            instance or ``fn(optimizer) -> scheduler``. Stepped per epoch (per batch for one-cycle;
            with the monitored value for plateau).
        metrics: ``{name: fn(outputs, targets) -> float}`` or stateful metric objects, computed on
            the validation set; recorded as ``val_<name>``.
        monitor: record key for best-model selection and early stopping (default ``"val_loss"``
            with a validation loader, else ``"train_loss"``).
        mode: ``"min"`` or ``"max"``; default ``"min"`` for keys containing ``loss``, else ``"max"``.
        patience: stop after this many epochs without improvement (``None``: never).
        min_delta: smallest change that counts as an improvement.
        restore_best: load the best epoch's weights into ``model`` at the end.
        checkpoint_dir: folder for ``last.pt`` (every epoch, atomic). ``None``: no files.
        resume: continue from ``checkpoint_dir/last.pt`` if it exists (needs ``checkpoint_dir``).
        precision: ``"fp32"``, ``"bf16"``, ``"amp"`` or ``"auto"`` (see module docstring).
        device: torch device or name; default :func:`medbench.settings.get_device`.
        seed: if given, :func:`medbench.settings.seed_everything` is called first.
        callbacks: :class:`Callback` objects or ``fn(event, state)``.
        progress: show tqdm bars (epochs and batches).
        grad_clip: clip the global gradient norm to this value.
        batch_fn: ``fn(batch) -> (inputs, targets)`` for batches the convention does not cover.
        input_key, target_key: keys of dict batches.
        max_batches: train on at most this many batches per epoch (quick checks).
        distributed: ``"auto"`` (use DDP when ``WORLD_SIZE > 1``), ``True`` or ``False``.

    Returns:
        The :class:`History`.

    Raises:
        ConfigError: bad argument values, naming the argument (``epochs < 1``, ``lr <= 0``,
            negative ``weight_decay``, ``resume`` without ``checkpoint_dir`` ...).
        CheckpointError: ``resume`` found an unreadable file.
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    metrics, monitor, mode = _check_fit_args(epochs, patience, metrics, monitor, mode, val_loader, lr=lr,
                                             weight_decay=weight_decay, resume=resume, checkpoint_dir=checkpoint_dir)
    if seed is not None:
        seed_everything(seed)
    device = torch.device(device) if device is not None else get_device()
    use_ddp, rank, device, train_loader = _setup_distributed(distributed, device, train_loader, seed)
    is_main = rank == 0
    callbacks = list(callbacks) if is_main else []
    run = _build_run(model, train_loader, optimizer, lr, weight_decay, scheduler, epochs, mode, precision, device,
                     use_ddp, is_main, progress and is_main, loss_fn, grad_clip, batch_fn, input_key, target_key,
                     max_batches)

    history = History(monitor=monitor, mode=mode, precision=run.precision)
    best_state, bad_epochs, start_epoch = None, 0, 0
    ckpt_path = Path(checkpoint_dir) / "last.pt" if checkpoint_dir is not None else None
    if resume and ckpt_path is not None and ckpt_path.exists():
        history, best_state, bad_epochs, start_epoch = _resume(ckpt_path, run, train_loader, epochs)
    history.stopped_early = False
    history.stop_reason = "completed"

    state = FitState(epochs=epochs, n_batches=run.steps, history=history, model=model, optimizer=run.optimizer,
                     scheduler=run.scheduler)
    _fire(callbacks, "train_begin", state)
    epoch_bar = tqdm(range(start_epoch, epochs), desc="epochs", disable=not run.progress, initial=start_epoch,
                     total=epochs)
    for epoch in epoch_bar:
        te = time.perf_counter()
        state.epoch, state.batch = epoch + 1, 0
        if hasattr(getattr(train_loader, "sampler", None), "set_epoch"):
            train_loader.sampler.set_epoch(epoch)
        _fire(callbacks, "epoch_begin", state)
        train_loss = _train_epoch(run, train_loader, epoch, state, callbacks)
        if train_loss is None:  # a callback (or the Stop button) asked to stop mid-epoch
            history.stop_reason = "stopped"
            break
        record = {"epoch": epoch + 1, "train_loss": train_loss, "lr": float(run.optimizer.param_groups[0]["lr"])}

        improved, stop_early, bad_epochs = _validate_and_decide(
            run, record, val_loader, metrics, history, bad_epochs, patience, min_delta)
        if improved and restore_best:
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if run.scheduler is not None:
            if run.step_on == "plateau":
                run.scheduler.step(float(record[monitor]))
            elif run.step_on == "epoch":
                run.scheduler.step()
        record["seconds"] = time.perf_counter() - te
        history.records.append(record)
        if stop_early:
            history.stopped_early, history.stop_reason = True, "early_stopping"
        state.record = record
        if run.progress:
            epoch_bar.set_postfix({k: f"{v:.4g}" for k, v in record.items()
                                   if k not in ("epoch", "seconds") and isinstance(v, float)}, refresh=False)
        if is_main and ckpt_path is not None:
            _save_last(ckpt_path, run, epoch + 1, history, best_state, bad_epochs, train_loader)
        _fire(callbacks, "epoch_end", state)
        if use_ddp:
            torch.distributed.barrier()
        if stop_early or _should_stop(state.stop, use_ddp):
            if not stop_early:
                history.stop_reason = "stopped"
            break
    epoch_bar.close()
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
    history.train_seconds = time.perf_counter() - t0
    _fire(callbacks, "train_end", state)
    return history


def _is_real(value) -> bool:
    """A finite real number (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)


def _check_fit_args(epochs, patience, metrics, monitor, mode, val_loader, *, lr=1e-3, weight_decay=0.0,
                    resume=False, checkpoint_dir=None) -> tuple[dict, str, str]:
    """Validate :func:`fit`'s plain arguments; return ``(metrics, monitor, mode)`` with defaults filled in.

    Raises:
        ConfigError: naming the argument (``epochs``, ``lr``, ``weight_decay``, ``resume``,
            ``patience``, ``monitor``, ``mode``), its value and what to pass instead.
    """
    if not isinstance(epochs, numbers.Integral) or isinstance(epochs, (bool, np.bool_)):
        raise ConfigError(f"epochs must be a whole number >= 1, got {epochs!r}")
    if epochs < 1:
        raise ConfigError(f"epochs must be >= 1, got {epochs!r}: fit would train nothing and return the "
                          "untrained model. To use a model without training, do not call fit.")
    if not _is_real(lr) or lr <= 0:
        raise ConfigError(f"lr must be a positive finite number (the learning rate, e.g. 1e-3), got {lr!r}")
    if not _is_real(weight_decay) or weight_decay < 0:
        raise ConfigError(f"weight_decay must be a finite number >= 0 (0 turns it off), got {weight_decay!r}")
    if resume and checkpoint_dir is None:
        raise ConfigError("resume=True needs checkpoint_dir (the folder holding last.pt); without it fit would "
                          "silently train from scratch. Pass the checkpoint_dir of the run to continue.")
    if patience is not None and patience < 1:
        raise ConfigError(f"patience must be >= 1 or None, got {patience!r}")
    metrics = dict(metrics or {})
    monitor = monitor or ("val_loss" if val_loader is not None else "train_loss")
    if monitor.startswith("val_") and val_loader is None:
        raise ConfigError(f"monitor={monitor!r} needs a val_loader")
    if monitor.startswith("val_") and monitor != "val_loss" and monitor[4:] not in metrics:
        raise ConfigError(f"monitor={monitor!r} is not computed: add {monitor[4:]!r} to metrics "
                          f"(have {sorted(metrics)})")
    mode = mode or ("min" if "loss" in monitor else "max")
    if mode not in ("min", "max"):
        raise ConfigError(f"mode must be 'min' or 'max', got {mode!r}")
    return metrics, monitor, mode


def _setup_distributed(distributed, device: torch.device, train_loader, seed):
    """Join the process group when DDP is on; return ``(use_ddp, rank, device, train_loader)``.

    Under DDP: initialise the group if needed (``nccl`` on CUDA, ``gloo`` otherwise), pin
    CUDA ranks to ``cuda:LOCAL_RANK`` and give the training loader a ``DistributedSampler``.
    """
    rank, world = _dist_env()
    use_ddp = (world > 1) if distributed == "auto" else bool(distributed)
    if not use_ddp:
        return False, rank, device, train_loader
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", str(rank))))
        torch.cuda.set_device(device)
    return True, rank, device, _distributed_loader(train_loader, rank, world, seed)


def _build_run(model, train_loader, optimizer, lr, weight_decay, scheduler, epochs, mode, precision, device,
               use_ddp, is_main, progress, loss_fn, grad_clip, batch_fn, input_key, target_key, max_batches) -> _Run:
    """Resolve the precision, move (and DDP-wrap) the model, build optimizer, scheduler and scaler."""
    precision = resolve_precision(precision, device)
    model.to(device)
    net = model
    if use_ddp:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    opt = _make_optimizer(optimizer, [p for p in model.parameters() if p.requires_grad], lr, weight_decay)
    try:
        steps = len(train_loader)
    except TypeError:
        steps = None
    if steps is not None and max_batches is not None:
        steps = min(steps, max_batches)
    sched, step_on = _make_scheduler(scheduler, opt, epochs, steps, lr, mode)
    return _Run(model=model, net=net, optimizer=opt, scheduler=sched, step_on=step_on,
                scaler=_grad_scaler(precision, device), device=device, precision=precision, use_ddp=use_ddp,
                is_main=is_main, progress=progress, steps=steps, loss_fn=loss_fn, grad_clip=grad_clip,
                batch_fn=batch_fn, input_key=input_key, target_key=target_key, max_batches=max_batches)


def _resume(ckpt_path: Path, run: _Run, train_loader, epochs: int):
    """Load ``last.pt`` into model, optimizer, scheduler, scaler and the RNGs.

    Returns:
        ``(history, best_state, bad_epochs, start_epoch)``; ``start_epoch == epochs`` when the
        checkpointed run had already stopped early.

    Raises:
        CheckpointError: unreadable file, or weights that do not fit this model/optimizer.
    """
    ck = load_checkpoint(ckpt_path, map_location="cpu")
    try:
        run.model.load_state_dict(ck["model"])
        run.optimizer.load_state_dict(ck["optimizer"])
    except (RuntimeError, ValueError, KeyError) as e:
        raise CheckpointError(f"checkpoint {ckpt_path} does not match this model/optimizer: {e}") from e
    if run.scheduler is not None and ck.get("scheduler") is not None:
        run.scheduler.load_state_dict(ck["scheduler"])
    if run.scaler is not None and ck.get("scaler"):
        run.scaler.load_state_dict(ck["scaler"])
    history = History.from_dict(ck["history"])
    history.precision = run.precision
    start_epoch = int(ck["epoch"])
    _set_rng_state(ck["rng"], train_loader)
    if history.stop_reason == "early_stopping":
        start_epoch = epochs  # the run had finished; nothing left to do
    return history, ck.get("best_model"), int(ck.get("bad_epochs", 0)), start_epoch


def _train_epoch(run: _Run, train_loader, epoch: int, state: FitState, callbacks) -> float | None:
    """One pass over the training loader (``epoch`` is 0-based).

    Returns:
        The sample-weighted mean training loss (averaged over ranks under DDP), or None when
        ``state.stop`` was set (the epoch is abandoned and not recorded).

    Raises:
        DataError: a non-finite loss, or a loader that yielded no batches.
    """
    from tqdm.auto import tqdm

    run.net.train()
    total, n = 0.0, 0
    batch_bar = tqdm(train_loader, desc=f"epoch {epoch + 1}", leave=False, disable=not run.progress,
                     total=run.steps)
    for i, batch in enumerate(batch_bar):
        if run.max_batches is not None and i >= run.max_batches:
            break
        inputs, targets = _split_batch(batch, run.batch_fn, run.input_key, run.target_key)
        inputs, targets = _to_device(inputs, run.device), _to_device(targets, run.device)
        lv = _train_step(run, inputs, targets, epoch, i)
        bs = _batch_size(inputs)
        total += lv * bs
        n += bs
        state.batch, state.loss = i + 1, lv
        if run.progress:
            batch_bar.set_postfix(loss=f"{lv:.4f}", refresh=False)
        _fire(callbacks, "batch_end", state)
        if _should_stop(state.stop, run.use_ddp):
            break
    batch_bar.close()
    if _should_stop(state.stop, run.use_ddp):
        return None
    if n == 0:
        raise DataError("the training loader yielded no batches; check the dataset size and batch size")
    if run.use_ddp:
        t = torch.tensor([total, float(n)], dtype=torch.float64, device=run.device)
        torch.distributed.all_reduce(t)
        return float(t[0] / t[1])
    return total / n


def _train_step(run: _Run, inputs, targets, epoch: int, i: int) -> float:
    """Forward, backward (scaled for ``"amp"``), clip, optimizer and per-batch scheduler step; the loss."""
    opt = run.optimizer
    opt.zero_grad(set_to_none=True)
    with autocast(run.precision, run.device):
        out = _forward(run.net, inputs)
        loss = run.loss_fn(out, targets)
    if not torch.isfinite(loss):
        raise DataError(f"loss became {float(loss)} at epoch {epoch + 1}, batch {i + 1}; lower lr "
                        f"(now {opt.param_groups[0]['lr']:.3g}), check inputs for NaN/inf, or use grad_clip")
    if run.scaler is not None:
        run.scaler.scale(loss).backward()
        if run.grad_clip:
            run.scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(run.model.parameters(), run.grad_clip)
        run.scaler.step(opt)
        run.scaler.update()
    else:
        loss.backward()
        if run.grad_clip:
            nn.utils.clip_grad_norm_(run.model.parameters(), run.grad_clip)
        opt.step()
    if run.scheduler is not None and run.step_on == "batch":
        run.scheduler.step()
    return float(loss.detach().float())


def _validate_and_decide(run: _Run, record: dict, val_loader, metrics, history: History, bad_epochs: int,
                         patience, min_delta) -> tuple[bool, bool, int]:
    """Validate on rank 0, update ``record`` and the best score, broadcast the decision under DDP.

    Returns:
        ``(improved, stop_early, bad_epochs)``.
    """
    monitor = history.monitor
    improved, stop_early = False, False
    if run.is_main:
        if val_loader is not None:
            record.update(_validate(run.model if run.use_ddp else run.net, val_loader, run.loss_fn, metrics, run.device,
                                    run.precision, run.batch_fn, run.input_key, run.target_key, run.progress))
        score = float(record.get(monitor, math.nan))
        if monitor not in record:
            raise ConfigError(f"monitor={monitor!r} is not in the epoch record (keys {sorted(record)})")
        improved = _improved(score, history.best_score, history.mode, min_delta)
        if improved:
            history.best_score, history.best_epoch, bad_epochs = score, record["epoch"], 0
        else:
            bad_epochs += 1
        stop_early = patience is not None and bad_epochs >= patience
    if run.use_ddp:
        flags = torch.tensor([float(improved), float(stop_early), float(record.get(monitor, math.nan))],
                             dtype=torch.float64, device=run.device)
        torch.distributed.broadcast(flags, src=0)
        improved, stop_early = bool(flags[0]), bool(flags[1])
        record.setdefault(monitor, float(flags[2]))
    return improved, stop_early, bad_epochs


def _save_last(ckpt_path: Path, run: _Run, epoch: int, history: History, best_state, bad_epochs: int,
               train_loader) -> None:
    """Write ``last.pt`` atomically after ``epoch`` (1-based) finished (see the module docstring)."""
    save_checkpoint({
        "version": CHECKPOINT_VERSION,
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict() if run.scheduler is not None else None,
        "scaler": run.scaler.state_dict() if run.scaler is not None else None,
        "epoch": epoch,
        "history": history.to_dict(),
        "best_model": best_state,
        "bad_epochs": bad_epochs,
        "rng": _get_rng_state(train_loader),
    }, ckpt_path)


def _should_stop(flag: bool, use_ddp: bool) -> bool:
    if not use_ddp:
        return bool(flag)
    t = torch.tensor([float(flag)], dtype=torch.float64)
    if torch.distributed.get_backend() == "nccl":
        t = t.cuda()
    torch.distributed.broadcast(t, src=0)
    return bool(t.item())


# ------------------------------------------------------------------------------------ GANs
@dataclass
class GANHistory:
    """Per-epoch mean losses of a GAN (``d_loss``, ``g_loss``); a generator trained without a
    discriminator (the naive MSE one of chapter 05) leaves ``d_loss`` empty."""

    d_loss: list
    g_loss: list
    seconds: float = 0.0

    def to_frame(self):
        """``pandas.DataFrame`` with columns ``epoch``, ``d_loss``, ``g_loss``."""
        import pandas as pd

        return pd.DataFrame({"epoch": np.arange(1, len(self.g_loss) + 1), "d_loss": self.d_loss or np.nan,
                             "g_loss": self.g_loss})


def fit_gan(generator: nn.Module, discriminator: nn.Module, loader: Iterable, *, noise: int, epochs: int,
            opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
            unpack: Callable = lambda batch: (batch[0], batch[1]), progress: bool = False, desc: str = "GAN",
            callback: Callable | None = None) -> GANHistory:
    """Train a conditional GAN: per batch one discriminator step, then one generator step.

    Discriminator: binary cross-entropy with real ``(x, c)`` pairs labelled 1 and generated
    ``(G(z, c), c)`` pairs labelled 0. Generator: the **non-saturating** loss
    ``-log D(G(z, c), c)`` (Goodfellow et al. 2014, sec. 3), whose gradient flows *through the
    discriminator*. :func:`fit` is not used: it runs one optimiser on one loss, a GAN needs two.

    Args:
        generator: ``G(z, c)`` with ``z`` of shape ``(B, noise)``.
        discriminator: ``D(x, c)`` returning logits ``(B, 1)``.
        loader: yields batches; ``unpack(batch) -> (real, condition)``.
        callback: optional ``fn(epoch, history, generator)`` after every epoch, generator in eval mode.

    Returns:
        :class:`GANHistory`; both networks are left in eval mode.
    """
    from tqdm.auto import tqdm

    bce = nn.BCEWithLogitsLoss()
    hist, t0 = GANHistory([], []), time.perf_counter()
    for epoch in tqdm(range(epochs), desc=desc, disable=not progress):
        d_losses, g_losses = [], []
        generator.train()
        discriminator.train()
        for batch in loader:
            real, cond = unpack(batch)
            fake = generator(torch.randn(len(real), noise), cond)
            d_real, d_fake = discriminator(real, cond), discriminator(fake.detach(), cond)
            loss_d = bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            d_gen = discriminator(fake, cond)  # the generator's loss goes through D
            loss_g = bce(d_gen, torch.ones_like(d_gen))
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            d_losses.append(loss_d.item())
            g_losses.append(loss_g.item())
        hist.d_loss.append(float(np.mean(d_losses)))
        hist.g_loss.append(float(np.mean(g_losses)))
        if callback is not None:
            generator.eval()
            callback(epoch + 1, hist, generator)
    hist.seconds = time.perf_counter() - t0
    generator.eval()
    discriminator.eval()
    return hist
