"""Signatures: what every output records so that results stay comparable.

A signature holds package versions, the seed, the config and hashes of inputs.
:func:`signature_differences` tells which parts of two signatures differ.
"""

from __future__ import annotations

import datetime as _dt
import platform
from importlib import metadata
from typing import Any

_PACKAGES = ("xladjust", "torch", "transformers", "tokenizers", "numpy", "sacremoses", "eflomal", "faiss-cpu")


def package_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Installed versions of the packages that affect results (absent ones omitted)."""
    out: dict[str, str] = {"python": platform.python_version()}
    for name in _PACKAGES + extra:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def make_signature(
    *,
    stage: str,
    config: dict[str, Any],
    seed: int | None = None,
    inputs: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the signature block written into every manifest."""
    sig: dict[str, Any] = {
        "stage": stage,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "config": config,
        "inputs": dict(inputs or {}),
        "versions": package_versions(),
    }
    if extra:
        sig.update(extra)
    return sig


def signature_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Human-readable differences that matter for comparing two results."""
    diffs: list[str] = []
    for key in ("seed", "inputs"):
        if a.get(key) != b.get(key):
            diffs.append(f"{key} differ: {a.get(key)!r} vs {b.get(key)!r}")
    va, vb = a.get("versions", {}), b.get("versions", {})
    for name in sorted(set(va) | set(vb)):
        if va.get(name) != vb.get(name):
            diffs.append(f"{name} version differs: {va.get(name)} vs {vb.get(name)}")
    return diffs
