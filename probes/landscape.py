"""Loss-landscape analyses of fine-tuned checkpoints (Wu, Van Durme & Dredze 2022).

- **Interpolation**: θ(α) = (1 − α)·θ_A + α·θ_B for every parameter of two checkpoints
  with the same architecture and head, evaluated at each α. Wu et al. find that on the
  line from a source-only ("monolingual") to a source+target ("bilingual") fine-tuned
  model the source error stays flat while the target error falls smoothly.
- **Flatness**: the error at θ + r·d for random directions d and radii r. Directions are
  filter-normalized by default (Li et al. 2018, "Visualizing the Loss Landscape of Neural
  Nets"): each filter (row of a weight matrix) of d is rescaled to the norm of the same
  filter in θ, and one-dimensional parameters (biases, LayerNorm) get no perturbation.

The functions here take models and an ``evaluate`` callable, ``model -> {language:
{metric: value}}``; they never read files. Memory: the two endpoints' state dicts plus
one working model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from xladjust.config import parse_list
from xladjust.errors import InputError
from xladjust.finite import NonFiniteError
from xladjust.progress import progress as progress_bar

log = logging.getLogger(__name__)

Metrics = dict[str, dict[str, float]]  # language -> metric -> value
Evaluate = Callable[[Any], Metrics]


def parse_alphas(spec: str) -> list[float]:
    """``"0:1:11"`` (start:stop:count, inclusive) or ``"0,0.5,1"`` → a list of α values."""
    try:
        if ":" in spec:
            start, stop, count = spec.split(":")
            n = int(count)
            if n < 2:
                raise ValueError
            return [float(x) for x in np.linspace(float(start), float(stop), n)]
        values = [float(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"bad alphas {spec!r}; use START:STOP:COUNT (e.g. 0:1:11) or a list like 0,0.5,1") from None
    if not values:
        raise InputError("no alphas given")
    return values


def parse_radii(spec: str) -> list[float]:
    values = parse_list(spec, float, "radii", "0,0.05,0.1")
    if not values or any(r < 0 for r in values):
        raise InputError(f"radii must be non-negative numbers, got {spec!r}")
    return sorted(set(values))


def check_compatible(state_a: dict[str, Any], state_b: dict[str, Any], names: tuple[str, str] = ("A", "B")) -> None:
    """Refuse two state dicts that do not share every parameter name and shape."""
    only_a = sorted(set(state_a) - set(state_b))
    only_b = sorted(set(state_b) - set(state_a))
    if only_a or only_b:
        detail = ", ".join([f"only in {names[0]}: {only_a[:3]}" if only_a else "",
                            f"only in {names[1]}: {only_b[:3]}" if only_b else ""]).strip(", ")
        raise InputError(f"checkpoints {names[0]} and {names[1]} differ in architecture or head ({detail}); "
                         "interpolation needs the same model class, size and label set")
    for key, tensor in state_a.items():
        if tuple(tensor.shape) != tuple(state_b[key].shape):
            raise InputError(f"checkpoints {names[0]} and {names[1]} differ in the shape of {key}: "
                             f"{tuple(tensor.shape)} vs {tuple(state_b[key].shape)} (different head or size?)")


def interpolate_into(model: Any, state_a: dict[str, Any], state_b: dict[str, Any], alpha: float) -> None:
    """Load θ(α) = (1 − α)·θ_A + α·θ_B into ``model`` in place.

    α = 0 and α = 1 copy an endpoint exactly; integer buffers are copied from the nearer
    endpoint.
    """
    import torch

    with torch.no_grad():
        for name, target in model.state_dict().items():
            a, b = state_a[name], state_b[name]
            if not torch.is_floating_point(a):
                target.copy_(a if alpha < 0.5 else b)
            elif alpha == 0.0:
                target.copy_(a)
            elif alpha == 1.0:
                target.copy_(b)
            else:
                target.copy_(torch.lerp(a.to(target.dtype), b.to(target.dtype), alpha))


def interpolation_sweep(model: Any, state_a: dict[str, Any], state_b: dict[str, Any],
                        alphas: Sequence[float], evaluate: Evaluate, progress: bool = False,
                        probe: Callable[[Any], dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Evaluate θ(α) for each α; rows ``{"alpha": α, "metrics": {lang: {metric: v}}}``, plus
    ``"probes": probe(θ(α))`` when ``probe`` is given."""
    check_compatible(state_a, state_b)
    rows = []
    for alpha in progress_bar(list(alphas), desc="interpolating", enabled=progress):
        interpolate_into(model, state_a, state_b, float(alpha))
        with _at_point(f"interpolate at alpha {alpha:g}"):
            rows.append({"alpha": float(alpha), "metrics": evaluate(model)})
            if probe is not None:
                rows[-1]["probes"] = probe(model)
        log.info("alpha %.3f: %s", alpha, rows[-1]["metrics"])
    return rows


def random_direction(state: dict[str, Any], seed: int, filter_normalized: bool = True) -> dict[str, Any]:
    """A Gaussian direction over the floating-point parameters of ``state``.

    Filter-normalized (default): for every parameter with two or more dimensions, each
    filter d_i (slice along dim 0) is rescaled to ‖d_i‖ = ‖θ_i‖; one-dimensional
    parameters (biases, LayerNorm) are set to zero. Otherwise the whole direction is
    scaled to the norm of the whole parameter vector.
    """
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    direction = {}
    for name, theta in state.items():
        if not torch.is_floating_point(theta):
            continue
        d = torch.randn(theta.shape, generator=gen, dtype=torch.float32)
        direction[name] = d
    if filter_normalized:
        return {name: filter_normalize(d, state[name].float()) for name, d in direction.items()}
    total_d = torch.sqrt(sum((d**2).sum() for d in direction.values()))
    total_t = torch.sqrt(sum((state[n].float() ** 2).sum() for n in direction))
    return {name: d * (total_t / total_d) for name, d in direction.items()}


def filter_normalize(direction: Any, weights: Any, eps: float = 1e-10) -> Any:
    """Rescale each filter of ``direction`` to the norm of the same filter of ``weights``
    (Li et al. 2018); one-dimensional tensors become zero."""
    if direction.dim() <= 1:
        return direction.new_zeros(direction.shape)
    d = direction.reshape(direction.shape[0], -1)
    w = weights.reshape(weights.shape[0], -1)
    scale = w.norm(dim=1, keepdim=True) / (d.norm(dim=1, keepdim=True) + eps)
    return (d * scale).reshape(direction.shape)


def perturb_into(model: Any, state: dict[str, Any], direction: dict[str, Any], radius: float) -> None:
    """Load θ + r·d into ``model`` in place."""
    import torch

    with torch.no_grad():
        for name, target in model.state_dict().items():
            if name in direction and radius != 0.0:
                target.copy_((state[name].float() + radius * direction[name]).to(target.dtype))
            else:
                target.copy_(state[name])


@dataclass(frozen=True)
class FlatnessResult:
    radii: list[float]
    # rows: {"direction": k, "radius": r, "metrics": {lang: {metric: v}}}
    rows: list[dict[str, Any]]


def flatness_sweep(model: Any, state: dict[str, Any], radii: Sequence[float], directions: int, seed: int,
                   evaluate: Evaluate, filter_normalized: bool = True, progress: bool = False) -> FlatnessResult:
    """Evaluate θ + r·d_k for each of ``directions`` seeded random directions and radius."""
    if directions < 1:
        raise InputError("--directions must be at least 1")
    radii = sorted(set(float(r) for r in radii))
    rows: list[dict[str, Any]] = []
    base: Metrics | None = None
    if 0.0 in radii:
        perturb_into(model, state, {}, 0.0)
        with _at_point("flatness at radius 0"):
            base = evaluate(model)
    jobs = [(k, r) for k in range(directions) for r in radii if r != 0.0]
    directions_cache: dict[int, dict[str, Any]] = {}
    for k, r in progress_bar(jobs, desc="flatness", enabled=progress):
        if k not in directions_cache:
            directions_cache.clear()
            directions_cache[k] = random_direction(state, seed * 1000 + k, filter_normalized)
        perturb_into(model, state, directions_cache[k], r)
        with _at_point(f"flatness at radius {r:g} (direction {k})"):
            rows.append({"direction": k, "radius": r, "metrics": evaluate(model)})
    if base is not None:
        rows = [{"direction": k, "radius": 0.0, "metrics": base} for k in range(directions)] + rows
    perturb_into(model, state, {}, 0.0)
    return FlatnessResult(radii=radii, rows=sorted(rows, key=lambda x: (x["direction"], x["radius"])))


def sharpness_summary(result: FlatnessResult, metric: str, higher_is_better: bool = True) -> dict[str, dict[str, Any]]:
    """Per language: at each radius, the mean and std across directions of the increase
    in error relative to radius 0 (error = −metric when higher is better)."""
    sign = -1.0 if higher_is_better else 1.0
    langs = sorted({lang for row in result.rows for lang in row["metrics"]})
    out: dict[str, dict[str, Any]] = {}
    for lang in langs:
        base = {row["direction"]: row["metrics"][lang][metric] for row in result.rows if row["radius"] == 0.0}
        if not base:
            raise InputError("flatness needs radius 0 among the radii to measure increases")
        per_radius = {}
        for r in result.radii:
            inc = [sign * (row["metrics"][lang][metric] - base[row["direction"]])
                   for row in result.rows if row["radius"] == r]
            per_radius[f"{r:g}"] = {"mean_increase": float(np.mean(inc)), "std": float(np.std(inc)),
                                    "min": float(np.min(inc)), "max": float(np.max(inc))}
        out[lang] = {"metric": metric, "by_radius": per_radius}
    return out


@contextmanager
def _at_point(where: str) -> Iterator[None]:
    """Name the point of the sweep in a non-finite evaluation's message (the sweep stops
    there, before anything is written)."""
    try:
        yield
    except NonFiniteError as err:
        raise NonFiniteError(f"{where}: {err}") from None
