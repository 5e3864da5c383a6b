"""Click parameter types for every numeric option, built from :mod:`xladjust.bounds`.

``type=Number(bounds.BATCH)`` parses an option, refuses NaN, infinities, sizes that
cannot fit in memory and out-of-range seeds. A refusal is an
:class:`~xladjust.errors.InputError` naming the option, so the CLI prints one line and
exits 2 (click's own usage errors print a usage block). ``NumberList`` checks
comma-separated lists (``--radii``, ``--seeds``) and ``Alphas`` the ``START:STOP:COUNT``
form; both return the text unchanged for the stage's own parser.
"""

from __future__ import annotations

from typing import Any

import click

from xladjust import bounds
from xladjust.bounds import Bound
from xladjust.errors import InputError


def _option_name(param: click.Parameter | None) -> str:
    if param is None:
        return "value"
    preferred = getattr(param, "preferred_name", None)  # an option with deprecated aliases: its current name
    if preferred:
        return preferred
    opts = getattr(param, "opts", None) or []
    return max(opts, key=len) if opts else (param.name or "value")


def _refuse(param: click.Parameter | None, text: Any, problem: str) -> InputError:
    shown = str(text) if len(str(text)) <= 40 else str(text)[:37] + "..."
    return InputError(f"{_option_name(param)} {shown}: {problem}")


def parse_number(text: Any, bound: Bound, full: bool = True) -> tuple[int | float | None, str | None]:
    """``(value, None)`` or ``(None, why it is refused)`` for an option's text
    (``full=False``: the lower end is left to the config's own check)."""
    if isinstance(text, bool):
        return None, f"is not {bound.describe()}"
    if isinstance(text, (int, float)):
        value: int | float = text
    else:
        raw = str(text).strip()
        try:
            value = int(raw, 10) if bound.integer else float(raw)
        except ValueError:
            return None, f"is not {bound.describe()}"
    problem = bound.why(value, full=full)
    return (None, problem) if problem else (value, None)


class Number(click.ParamType):
    """An integer or finite real within ``bound``."""

    def __init__(self, bound: Bound, full: bool = True):
        self.bound = bound
        self.full = full
        self.name = "integer" if bound.integer else "number"

    def in_config(self) -> Number:
        """This type for an option that feeds a typed config: finiteness, the upper end and
        seeds are checked here; the config's ``check()`` reports a value below the lower end
        together with every other problem of the config."""
        return Number(self.bound, full=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number, problem = parse_number(value, self.bound, self.full)
        if problem:
            raise _refuse(param, value, problem)
        return number

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str | None:
        return "INTEGER" if self.bound.integer else "FLOAT"


class NumberList(click.ParamType):
    """A comma-separated list of numbers within ``bound`` (at most ``max_items``);
    the option keeps its text."""

    name = "list"

    def __init__(self, bound: Bound, max_items: int = 10_000):
        self.bound = bound
        self.max_items = max_items

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        parts = [p for p in str(value).split(",") if p.strip()]
        if len(parts) > self.max_items:
            raise _refuse(param, value, f"{len(parts)} values; give at most {self.max_items}")
        for part in parts:
            _, problem = parse_number(part, self.bound)
            if problem:
                raise _refuse(param, value, f"{part.strip()!r} {problem}")
        return value


class Alphas(click.ParamType):
    """``START:STOP:COUNT`` with finite ends and a sane COUNT, or a list of finite numbers."""

    name = "alphas"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = str(value)
        if ":" not in text:
            return NumberList(bounds.FINITE).convert(value, param, ctx)
        parts = text.split(":")
        if len(parts) != 3:
            raise _refuse(param, value, "use START:STOP:COUNT (e.g. 0:1:11) or a list like 0,0.5,1")
        for part, bound in zip(parts, (bounds.FINITE, bounds.FINITE, bounds.POINTS), strict=True):
            _, problem = parse_number(part, bound)
            if problem:
                raise _refuse(param, value, f"{part.strip()!r} {problem}")
        return value


def int_range(low: int, high: int, what: str) -> Number:
    """An integer option with a small fixed range (e.g. a model number 1-3)."""
    return Number(Bound(True, low, high, what=what, reason=f"{what} is {low} to {high}"))


SEED = Number(bounds.SEED)
BATCH = Number(bounds.BATCH)
LENGTH = Number(bounds.LENGTH)
COUNT = Number(bounds.COUNT)
SMALL = Number(bounds.SMALL)
RESAMPLES = Number(bounds.RESAMPLES)
THREADS = Number(bounds.THREADS)
POSITIVE_THREADS = Number(Bound(True, 1, 4096, what="a thread count", reason="more than any machine has"))
MAX_LENGTH = Number(Bound(True, 8, bounds.LENGTH.high, what="a length in subwords"))
N_RESAMPLES = Number(Bound(True, 100, bounds.RESAMPLES.high, what="resamples"))
EPOCHS = Number(bounds.EPOCHS)
INT_EPOCHS = Number(Bound(True, 1, 100_000, what="a number of epochs", reason="more than any run can take"))
POSITIVE = Number(bounds.POSITIVE)
LEARNING_RATE = Number(bounds.LEARNING_RATE)
NON_NEGATIVE = Number(bounds.NON_NEGATIVE)
FINITE = Number(bounds.FINITE)
LAYER = Number(bounds.LAYER)
DIRECTIONS = Number(bounds.DIRECTIONS)
RADII = NumberList(bounds.NON_NEGATIVE)
SEEDS = NumberList(bounds.SEED, max_items=1000)
ALPHAS = Alphas()
