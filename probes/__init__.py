"""Probes: word distances, paired differences, retrieval, landscape analyses.

Library entry points: :func:`xladjust.probes.run.run_probes` (a whole run from a
:class:`xladjust.probes.config.ProbeConfig`) and :func:`xladjust.probes.run.probe_checkpoint`
(the probes on one loaded model). :data:`xladjust.probes.registry.PROBES` lists the probes.
"""

from __future__ import annotations

from xladjust.lazy import lazy_exports

__all__ = ["PROBES", "ProbeConfig", "ProbeResult", "probe_checkpoint", "run_probes"]

_LAZY = {
    "PROBES": "xladjust.probes.registry",
    "ProbeResult": "xladjust.probes.registry",
    "ProbeConfig": "xladjust.probes.config",
    "probe_checkpoint": "xladjust.probes.run",
    "run_probes": "xladjust.probes.run",
}


__getattr__ = lazy_exports(__name__, _LAZY)
