"""Shared pieces of option declarations: deprecated aliases, the options every command
spells alike (``--precision``, ``--device``, ``--threads``, ``--overwrite``), and help
grouped into sections.

``click.option("--test", "tests", ..., **deprecated_alias("--eval"))`` keeps ``--eval``
working for one release as a hidden name of the same option (not a second option): it
is left out of ``--help`` and logs a warning naming the new name when used. An old flag
that became a value of an option (``--cpu``, now ``--device cpu``) is
``deprecated_alias(flags={"--cpu": "cpu"})``.
``SectionedGroup`` lists a command's options under headings (align groups its options by
backend).
"""

from __future__ import annotations

import copy
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click

from xladjust.training_common import AUTOCAST_PRECISIONS, PRECISIONS

log = logging.getLogger("xladjust.cli")


class AliasedOption(click.Option):
    """An option with extra hidden names that warn when used: ``old_names=("--old",)``
    take a value as the option does; ``old_flags={"--old": VALUE}`` are flags that set the
    option to ``VALUE``."""

    def __init__(self, param_decls: Sequence[str], old_names: Sequence[str] = (),
                 old_flags: Mapping[str, Any] | None = None, **kwargs: Any):
        self.old_names = tuple(old_names)
        self.old_flags = dict(old_flags or {})
        super().__init__([*param_decls, *self.old_names], **kwargs)

    @property
    def current_opts(self) -> list[str]:
        """The option's names without the deprecated ones."""
        return [opt for opt in self.opts if opt not in self.old_names]

    @property
    def preferred_name(self) -> str:
        current = self.current_opts
        return next((opt for opt in current if opt.startswith("--")), current[0])

    @property
    def every_old_name(self) -> tuple[str, ...]:
        """The deprecated names, value-taking and flags."""
        return (*self.old_names, *self.old_flags)

    def replacement(self, old: str) -> str:
        """What to write instead of the deprecated ``old``: ``--new`` or ``--new VALUE``."""
        if old in self.old_flags:
            return f"{self.preferred_name} {self.old_flags[old]}"
        return self.preferred_name

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        super().add_to_parser(parser, ctx)
        for old, value in self.old_flags.items():
            parser.add_option(obj=self, opts=[old], dest=self.name, action="store_const", const=value)
        table = getattr(parser, "_long_opt", {})
        for old in self.every_old_name:
            parsed = table.get(old)
            if parsed is None or not hasattr(parsed, "process"):
                continue  # unknown parser internals: the alias works, silently
            alias = copy.copy(parsed)  # the same destination, a process that warns first
            inner = parsed.process

            def process(value: Any, state: Any, old: str = old, inner: Any = inner) -> None:
                warned = getattr(state, "xladjust_warned", set())
                if old not in warned:
                    log.warning("%s is deprecated and will be removed in the next release; use %s",
                                old, self.replacement(old))
                    warned.add(old)
                    state.xladjust_warned = warned
                inner(value, state)

            alias.process = process
            table[old] = alias

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        every = self.opts
        self.opts = self.current_opts
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = every


def deprecated_alias(*old: str, flags: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Keyword arguments of ``click.option`` that add hidden deprecated names: ``old`` take
    the option's value, ``flags`` (old flag -> value) set the option to a value."""
    return {"cls": AliasedOption, "old_names": old, "old_flags": flags}


def precision_option(fp16: bool = False, bf16_alias: bool = True) -> Callable[[Any], Any]:
    """``--precision``: auto, fp32 or bf16 (and fp16 for adjust); unset (None) is auto:
    bf16 where the device multiplies bf16 natively, else fp32
    (:func:`xladjust.training_common.autocast_precision`). With ``bf16_alias`` (the
    commands that had them) the old ``--bf16`` and ``--no-bf16`` flags are deprecated
    spellings of ``--precision bf16`` and ``fp32``."""
    if fp16:
        choices = list(PRECISIONS)
        help_text = ("fp32, bf16 autocast, or fp16 autocast with a gradient scaler (CUDA only); auto: bf16 where "
                     "the device has fast bf16, fp16 on an older GPU, else fp32. [default: auto]")
    else:
        choices = list(AUTOCAST_PRECISIONS)
        help_text = ("fp32, or bf16 autocast of the forward passes; auto: bf16 where the device has fast bf16, "
                     "else fp32. [default: auto]")
    aliases = deprecated_alias(flags={"--bf16": "bf16", "--no-bf16": "fp32"}) if bf16_alias else {}
    return click.option("--precision", type=click.Choice(choices), default=None, help=help_text, **aliases)


def uses_bf16(precision: str | None) -> bool:
    """Whether ``--precision`` (None: auto) autocasts to bf16 on this device."""
    from xladjust.training_common import Precision, autocast_precision

    return autocast_precision(precision) is Precision.BF16


def device_option(training: bool = False, cpu_alias: bool = False) -> Callable[[Any], Any]:
    """``--device``: where the command runs its model. A training run takes auto, cpu or
    cuda (each process's GPU comes from the launcher); other commands also cuda:N.
    ``cpu_alias`` keeps the old ``--cpu`` flag as a deprecated spelling of ``--device cpu``."""
    if training:
        help_text = ("Where the run trains: auto (CUDA when a GPU is visible, else the CPU), cpu or cuda; under "
                     "torchrun each process takes its own GPU. [default: auto]")
    else:
        help_text = ("Where the model runs: auto (CUDA when a GPU is visible, else the CPU), cpu, cuda or cuda:N. "
                     "[default: auto]")
    extra = deprecated_alias(flags={"--cpu": "cpu"}) if cpu_alias else {}
    return click.option("--device", default=None, metavar="auto|cpu|cuda" + ("" if training else "[:N]"),
                        help=help_text, **extra)


def overwrite_option() -> Callable[[Any], Any]:
    """``--overwrite``: the one flag that lets a command replace a complete run in --out
    (:func:`xladjust.outputs.judge_existing`)."""
    return click.option("--overwrite", is_flag=True, default=False,
                        help="Replace an existing run in --out (without it, an earlier run there is refused).")


def resume_option(what: str = "from its last checkpoint") -> Callable[[Any], Any]:
    """``--resume``: continue the unfinished run in --out (commands that can)."""
    return click.option("--resume", is_flag=True, default=False,
                        help=f"Continue the interrupted run in --out {what}.")


class SectionedHelp:
    """A command mixin whose help lists options under headings: ``sections(param)`` names
    the heading of each option (``None``: the plain "Options" list)."""

    def __init__(self, *args: Any, sections: Callable[[click.Parameter], str | None] | None = None,
                 **kwargs: Any):
        self.sections = sections
        super().__init__(*args, **kwargs)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        grouped: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):  # type: ignore[attr-defined]
            record = param.get_help_record(ctx)
            if record is None:
                continue
            title = (self.sections(param) if self.sections else None) or "Options"
            grouped.setdefault(title, []).append(record)
        for title, rows in grouped.items():
            with formatter.section(title):
                formatter.write_dl(rows)
        if isinstance(self, click.Group):
            self.format_commands(ctx, formatter)


class SectionedCommand(SectionedHelp, click.Command):
    """A command with sectioned option help."""


class SectionedGroup(SectionedHelp, click.Group):
    """A group with sectioned option help."""


def is_quiet(ctx: click.Context) -> bool:
    """Whether ``xladjust -q`` was given (no progress bars then)."""
    root = ctx.find_root().obj
    return bool(isinstance(root, dict) and root.get("quiet"))


def example(*commands: str) -> str:
    """A help epilog with example command lines (kept unwrapped)."""
    lines = "\n".join(f"  {command}" for command in commands)
    return f"\b\nExample{'s' if len(commands) > 1 else ''}:\n{lines}"


def set_threads(threads: int) -> None:
    """Cap CPU threads: the environment for libraries and processes started later, and
    torch at once if a stage module has imported it already."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def _apply_threads(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None:
        set_threads(value)
    return value


def threads_option(type: click.ParamType) -> Callable[[Any], Any]:
    """A command's own ``--threads``: the global option's meaning, given after the command."""
    return click.option("--threads", type=type, default=None, callback=_apply_threads, expose_value=True,
                        help="Torch and OpenMP CPU threads for the whole command, as 'xladjust --threads N'.")


class LazyChoice(click.Choice):
    """A ``click.Choice`` whose choices are read from a registry when first needed, so a
    registry that imports torch is not imported when the command module is."""

    def __init__(self, load: Callable[[], Sequence[str]], case_sensitive: bool = True):
        self._load = load
        self._loaded: Sequence[str] | None = None
        super().__init__((), case_sensitive=case_sensitive)

    @property  # type: ignore[override]
    def choices(self) -> Sequence[str]:
        if self._loaded is None:
            self._loaded = tuple(self._load())
        return self._loaded

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:  # click.Choice.__init__ assigns ()
        pass
