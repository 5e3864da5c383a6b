"""Progress reporting: a bar on a terminal, a log line every N steps elsewhere.

Every long loop reports through :func:`progress`. When stderr is a terminal it is a tqdm
bar; otherwise (a log file, CI, a pipe) tqdm's carriage-return frames would fill the log,
so it logs one INFO line every ``every`` steps and one at the end, through the logger of
the module that asked (``xladjust.progress``). ``every`` defaults to a tenth of the total
(at least 1) or 100 when the total is unknown; ``XLADJUST_PROGRESS_EVERY`` overrides it,
``XLADJUST_PROGRESS=bar|log`` forces either form.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

log = logging.getLogger(__name__)


def stderr_is_terminal() -> bool:
    stream = sys.stderr
    return bool(getattr(stream, "isatty", None)) and stream.isatty()


def _use_bar() -> bool:
    forced = os.environ.get("XLADJUST_PROGRESS", "").strip().lower()
    if forced in ("bar", "log"):
        return forced == "bar"
    return stderr_is_terminal()


def default_every(total: int | None) -> int:
    env = os.environ.get("XLADJUST_PROGRESS_EVERY", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, math.ceil(total / 10)) if total else 100


class LogProgress:
    """tqdm's small interface (``update``, ``set_postfix``, ``close``, iteration) that logs
    ``desc: n/total unit (pct%), elapsed, rate[, postfix]`` every ``every`` steps."""

    def __init__(self, iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "it", initial: int = 0, every: int | None = None,
                 logger: logging.Logger | None = None) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.desc, self.unit = total, desc, unit
        self.n = self._logged = initial
        self.every = every or default_every(total)
        self.postfix = ""
        self.log = logger or log
        self.start = time.perf_counter()
        self.closed = False

    def __iter__(self) -> Iterator[Any]:
        try:
            for item in self.iterable or ():
                yield item
                self.update(1)
        finally:
            self.close()

    def __len__(self) -> int:
        return self.total or 0

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n - self._logged >= self.every:
            self._emit()

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_description(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.n != self._logged:
            self._emit()

    def line(self) -> str:
        elapsed = time.perf_counter() - self.start
        count = f"{self.n}/{self.total}" if self.total else str(self.n)
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        rate = f", {self.n / elapsed:.2f} {self.unit}/s" if elapsed > 0 and self.n else ""
        extra = f", {self.postfix}" if self.postfix else ""
        return f"{self.desc}: {count} {self.unit}{share}, {elapsed:.0f} s{rate}{extra}"

    def _emit(self) -> None:
        self._logged = self.n
        self.log.info("%s", self.line())

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress(iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str = "", unit: str = "it",
             enabled: bool = True, initial: int = 0, leave: bool = False, every: int | None = None) -> Any:
    """A progress reporter over ``iterable`` or for ``total`` steps (see module doc).

    Disabled: the iterable itself, or None when there is none (callers check for None)."""
    if not enabled:
        return iterable
    if _use_bar():
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave, dynamic_ncols=True)
    return LogProgress(iterable, total=total, desc=desc, unit=unit, initial=initial, every=every)


def quiet_library_bars() -> None:
    """Turn off the bars of huggingface_hub, transformers and datasets ("Writing model
    shards") when stderr is not a terminal; they read these variables when imported, so
    the CLI calls this first. Values the user set win."""
    if not _use_bar():
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
