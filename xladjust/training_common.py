"""What every training loop of the project shares: the ``accelerate`` set-up (device,
mixed precision, processes), fast Adam kernels, per-process RNG states and JSON-ready
scheduler states for checkpoints, and the averaging of a step's measurements.

One code path serves a CPU, one GPU, and several processes started by
``accelerate launch`` or ``torchrun`` (DDP): the :class:`accelerate.Accelerator` reads
the launch environment. Precision names are ``auto``, ``fp32``, ``bf16`` and ``fp16``
(:class:`Precision`, every command's ``--precision``): ``auto`` is bf16 where the device
multiplies bf16 natively (a GPU that supports it, a CPU with AVX512-BF16 or AMX), fp16
on an older GPU, fp32 otherwise; fp16 needs CUDA and uses a gradient scaler (adjust
only). The other commands autocast their forward passes to bf16 or run them in fp32:
their ``auto`` is bf16 where the device multiplies it natively, else fp32
(:func:`autocast_precision`), resolved when their config is made.
"""

from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import Callable
from typing import Any

from xladjust.errors import ConfigError


class Precision(str, enum.Enum):
    """Every command's ``--precision`` (a config's ``precision:``)."""

    AUTO = "auto"  # bf16 where the device has fast bf16 (CPU with AVX512-BF16/AMX, GPU), else fp32
    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"  # CUDA only; uses a gradient scaler (adjust)


PRECISIONS = tuple(p.value for p in Precision)
AUTOCAST_PRECISIONS = ("auto", "fp32", "bf16")  # the --precision of every command but adjust
TRAINING_DEVICES = ("auto", "cpu", "cuda")  # a training run's --device; each process's GPU comes from the launcher

# A training stage's hook from its caller: on_step(step, encoder, last, run_dir=folder), called
# on the main process at step 0 and after every optimizer step (geometry curves).
OnStep = Callable[..., None]


def require_hook(probe_every: int | None, on_step: OnStep | None, builder: str) -> None:
    """A run with ``probe_every`` needs its geometry hook from the caller (built by
    ``xladjust.probes.geometry.<builder>``); refuse it before any work otherwise."""
    if probe_every is not None and on_step is None:
        raise ConfigError(f"probe_every needs the geometry hook: build it with "
                          f"xladjust.probes.geometry.{builder}(config) and pass it as on_step")


def cpu_has_fast_bf16() -> bool:
    """True when the CPU multiplies bf16 natively (AVX512-BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def auto_bf16() -> bool:
    """The default of every ``bf16`` setting: bf16 autocast only where the device multiplies
    bf16 natively (the rule of ``--precision auto``). On a CPU without AVX512-BF16 or AMX,
    torch emulates bf16 matmuls, measured 55x slower than fp32 (0.8 against 43.8 GFLOP/s)."""
    import torch

    return resolve_precision("auto", torch.cuda.is_available()) == "bf16"


MATH_ATTENTION_MAX_WIDTH = 128  # padded subwords per row up to which the math backend is faster


def training_attention(device_type: str, width: int, dtype: Any = None) -> contextlib.AbstractContextManager[Any]:
    """The attention kernel of a training forward pass over rows ``width`` subwords wide:
    in bf16 on a CPU (bf16 autocast, or ``dtype`` bf16 for a model held in bf16), up to :data:`MATH_ATTENTION_MAX_WIDTH` subwords,
    scaled-dot-product attention through torch's math backend (matmuls and a softmax), not
    its CPU flash kernel, whose bf16 backward is the slower one there. Forward plus backward
    of one layer's attention, 12 heads of 32, padding mask, 1 thread, AMX CPU: 16 rows of 48
    subwords 27 ms flash against 7 ms math; 30 × 63: 56 against 24; 61 × 136: 301 against
    249; 16 × 256: 92 against 219 (flash wins on long rows). It is the same attention;
    elsewhere (fp32, GPUs, inference, longer rows) nothing changes."""
    import torch

    if dtype is None and torch.is_autocast_enabled("cpu"):
        dtype = torch.get_autocast_dtype("cpu")
    if device_type != "cpu" or width > MATH_ATTENTION_MAX_WIDTH or dtype != torch.bfloat16:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.MATH)


def bf16_or_auto(value: bool | None) -> bool:
    """``value``, or :func:`auto_bf16` when it is None (a function argument left unset)."""
    return auto_bf16() if value is None else value


def bf16_field() -> Any:
    """A config field whose default is :func:`auto_bf16`, resolved when the config is made."""
    import dataclasses

    return dataclasses.field(default_factory=auto_bf16)


def autocast_precision(precision: str | None) -> Precision:
    """The precision of a command's forward passes, ``auto`` (or None) resolved on this
    device: bf16 where it multiplies bf16 natively (:func:`auto_bf16`), else fp32; any
    other value as given (a config's check refuses fp16 outside adjust)."""
    value = Precision(getattr(precision, "value", precision) or "auto")
    if value is Precision.AUTO:
        return Precision.BF16 if auto_bf16() else Precision.FP32
    return value


class AutocastSetting:
    """Base of a frozen config dataclass with a ``precision`` field for forward passes:
    ``auto`` is resolved on this device when the config is made (:func:`autocast_precision`),
    so a run records the precision it used."""

    precision: Precision

    def __post_init__(self) -> None:
        object.__setattr__(self, "precision", autocast_precision(self.precision))

    @property
    def bf16(self) -> bool:
        """Whether forward passes autocast to bfloat16."""
        return self.precision is Precision.BF16


def auto_precision() -> Precision:
    """The default of a ``precision`` config field outside adjust: ``auto``, resolved when
    the config is made."""
    return autocast_precision("auto")


def precision_field() -> Any:
    """A ``precision`` config field (bf16 autocast or fp32) whose default is ``auto``,
    resolved when the config is made; the class resolves a given ``auto`` with
    :func:`autocast_precision` in ``__post_init__``."""
    import dataclasses

    return dataclasses.field(default_factory=auto_precision)


def fp16_problem(precision: Precision) -> list[str]:
    """A config check: fp16 (with its gradient scaler) is adjust's only."""
    if precision is Precision.FP16:
        return ["precision fp16 is adjust's only (CUDA, with a gradient scaler); use bf16, fp32 or auto"]
    return []


def resolve_precision(precision: str, on_gpu: bool) -> str:
    """accelerate's mixed-precision name (``no``, ``bf16``, ``fp16``) for ``precision``
    (one of :data:`PRECISIONS`, or a str enum with those values) on this device."""
    import torch

    name = getattr(precision, "value", precision)
    if name not in PRECISIONS:
        raise ConfigError(f"unknown precision {name!r}; use one of {', '.join(PRECISIONS)}")
    if name == "fp32":
        return "no"
    if name == "fp16":
        if not on_gpu:
            raise ConfigError("precision fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
        return "fp16"
    if name == "bf16":
        return "bf16"
    if on_gpu:
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_fast_bf16() else "no"


def training_device_problem(device: str) -> str | None:
    """Why ``device`` is no device of a training run (a config check), or None."""
    if device in TRAINING_DEVICES:
        return None
    return (f"device {device!r} is not one of {', '.join(TRAINING_DEVICES)}: a training run takes auto, the CPU "
            "or CUDA; with several GPUs each process takes its own from torchrun or accelerate launch "
            "(CUDA_VISIBLE_DEVICES picks them)")


def trains_on_cpu(device: str) -> bool:
    """Whether a training run on ``device`` (:data:`TRAINING_DEVICES`) keeps to the CPU;
    ``cuda`` where no CUDA GPU is visible is refused with one line."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise ConfigError(f"device 'cuda' cannot be used: {why}; pass --device auto or cpu")
    return device == "cpu"


def make_accelerator(*, cpu: bool, precision: str, find_unused_parameters: bool = False) -> Any:
    """An ``Accelerator`` for the device and precision (launch settings apply)."""
    import torch
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedDataParallelKwargs

    on_gpu = torch.cuda.is_available() and not cpu
    mixed = resolve_precision(precision, on_gpu)
    state = AcceleratorState._shared_state
    if state and state.get("_mixed_precision") != mixed:
        # A second run in the same process (tests, notebooks, pipelines) with another
        # precision: accelerate keeps one global state, so start it afresh (the process
        # group, if any, is kept).
        AcceleratorState._reset_state()
    ddp = DistributedDataParallelKwargs(find_unused_parameters=find_unused_parameters)
    return Accelerator(cpu=cpu, mixed_precision=mixed, kwargs_handlers=[ddp])


def fast_adam_kwargs(params: list[Any]) -> dict[str, Any]:
    """Fused Adam kernels where every parameter allows them (CPU or CUDA, float types)."""
    ok = params and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return {"fused": True} if ok else {}


def gather_rng(acc: Any) -> dict[str, Any]:
    """Every process's torch RNG states as ``{"cpu.RANK": tensor, "cuda.RANK": tensor}``
    (collective: every process must call it)."""
    import torch

    mine = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        mine["cuda"] = torch.cuda.get_rng_state()
    if acc.num_processes == 1:
        states = [mine]
    else:
        from accelerate.utils import gather_object

        states = gather_object([mine])
    return {f"{name}.{rank}": t for rank, s in enumerate(states) for name, t in s.items()}


def restore_rng(acc: Any, rng: dict[str, Any]) -> None:
    """Set this process's torch RNG states from :func:`gather_rng`'s dict."""
    import torch

    rank = acc.process_index
    torch.set_rng_state(rng[f"cpu.{rank}"])
    if torch.cuda.is_available() and f"cuda.{rank}" in rng:
        torch.cuda.set_rng_state(rng[f"cuda.{rank}"])


def scheduler_state(scheduler: Any) -> dict[str, Any]:
    """A ``LambdaLR``'s state as JSON (the rule itself is rebuilt from the config)."""
    state = scheduler.state_dict()
    state["lr_lambdas"] = [None] * len(state.get("lr_lambdas", []))
    return json.loads(json.dumps(state))


def reduce_record(acc: Any, record: dict[str, float], summed: tuple[str, ...] = ()) -> dict[str, float]:
    """Average a step's measurements over processes; the keys in ``summed`` are summed."""
    if acc.num_processes == 1:
        return record
    import torch

    keys = sorted(record)
    values = torch.tensor([record[k] for k in keys], device=acc.device, dtype=torch.float64)
    total = acc.reduce(values, reduction="sum")
    out = {k: float(v) / acc.num_processes for k, v in zip(keys, total.tolist(), strict=True)}
    for key in summed:
        if key in out:
            out[key] *= acc.num_processes
    return out


def broadcast_value(acc: Any, value: Any) -> Any:
    """The main process's ``value`` on every process (a picklable object)."""
    if acc.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value])[0]


def is_main_process_env() -> bool:
    """Whether this process is rank 0 of its launch (``torchrun``/``accelerate launch`` set
    ``RANK``), known before the accelerator exists: only rank 0 claims the output folder."""
    import os

    return int(os.environ.get("RANK", "0") or 0) == 0
