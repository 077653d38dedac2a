"""2-D loss surfaces for watching optimizers move, and the trajectories they take."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from medbench.errors import ConfigError
from medbench.teaching.optimizers import make_optimizer


@dataclass(frozen=True)
class Surface:
    """A function of ``(x, y)`` (tensors or arrays of any shape) with a view box and start."""

    name: str
    f: Callable
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    start: tuple[float, float]
    minimum: tuple[float, float]
    note: str


SURFACES: dict[str, Surface] = {
    s.name: s
    for s in [
        Surface("ill_conditioned", lambda x, y: 0.5 * (x**2 + 25.0 * y**2), (-6, 6), (-3, 3), (-5.0, 2.0), (0.0, 0.0),
                "0.5(x^2 + 25y^2): curvature 25x larger along y; plain SGD zig-zags or diverges."),
        Surface("rosenbrock", lambda x, y: (1 - x) ** 2 + 100.0 * (y - x**2) ** 2, (-2, 2), (-1, 3), (-1.5, 2.0),
                (1.0, 1.0), "(1-x)^2 + 100(y-x^2)^2: a curved, flat-bottomed valley."),
        Surface("saddle", lambda x, y: x**2 - y**2 + 0.25 * y**4, (-2, 2), (-2.5, 2.5), (-1.5, 1e-3),
                (0.0, np.sqrt(2.0)), "x^2 - y^2 + y^4/4: a saddle at the origin, minima at y=+-sqrt(2)."),
    ]
}


def get_surface(name: str) -> Surface:
    try:
        return SURFACES[name]
    except KeyError:
        raise ConfigError(f"unknown surface {name!r}; choose from {', '.join(SURFACES)}") from None


def trajectory(surface: str | Surface, optimizer: str, steps: int = 100,
               start: tuple[float, float] | None = None, **hparams) -> np.ndarray:
    """Positions visited by ``optimizer`` on ``surface``.

    Returns:
        Array ``(steps + 1, 2)`` of ``(x, y)``; rows after a divergence (non-finite or
        far outside the view) are cut off, so the array may be shorter.
    """
    s = get_surface(surface) if isinstance(surface, str) else surface
    p = torch.tensor(start or s.start, dtype=torch.float64, requires_grad=True)
    opt = make_optimizer(optimizer, [p], **hparams)
    path = [p.detach().numpy().copy()]
    span = max(s.xlim[1] - s.xlim[0], s.ylim[1] - s.ylim[0])
    for _ in range(steps):
        opt.zero_grad()
        s.f(p[0], p[1]).backward()
        opt.step()
        xy = p.detach().numpy().copy()
        path.append(xy)
        if not np.all(np.isfinite(xy)) or np.abs(xy).max() > 10 * span:
            break
    return np.array(path)
