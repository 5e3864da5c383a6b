"""Probes: word distances, paired differences, retrieval, landscape analyses.

Library entry points: :func:`xladjust.probes.run.run_probes` (a whole run from a
:class:`xladjust.probes.config.ProbeConfig`) and :func:`xladjust.probes.run.probe_checkpoint`
(the probes on one loaded model). :data:`xladjust.probes.registry.PROBES` lists the probes.
"""

from __future__ import annotations

from typing import Any

from xladjust.lazy import load

__all__ = ["PROBES", "ProbeConfig", "ProbeResult", "probe_checkpoint", "run_probes"]

_LAZY = {
    "PROBES": "xladjust.probes.registry",
    "ProbeResult": "xladjust.probes.registry",
    "ProbeConfig": "xladjust.probes.config",
    "probe_checkpoint": "xladjust.probes.run",
    "run_probes": "xladjust.probes.run",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return load(f"{_LAZY[name]}:{name}")
    raise AttributeError(f"module 'xladjust.probes' has no attribute {name!r}")
