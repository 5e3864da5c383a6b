"""The ``xladjust`` command line: a thin layer over the library API.

The subcommands are the rows of :data:`xladjust.stages.STAGES`, imported only when
invoked, so ``xladjust --help`` stays instant. Only this module configures logging and exits.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import traceback
from typing import Any

import click

from xladjust import __version__
from xladjust.cli import types as ct
from xladjust.cli.options import example, set_threads
from xladjust.errors import XladjustError
from xladjust.extras import require
from xladjust.interrupts import Interrupted, forget_signals, on_signal
from xladjust.lazy import load
from xladjust.stages import STAGES


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._available()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = STAGES.get(cmd_name)
        if entry is None:
            return None
        module = entry.command.partition(":")[0]
        try:
            command = load(entry.command)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                return None  # the stage is not part of this version
            raise
        return _with_extras(command, entry.extras, f"xladjust {cmd_name}")

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, STAGES[name].summary) for name in self.list_commands(ctx) if name in STAGES]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    @staticmethod
    def _available() -> list[str]:
        names = []
        for name, entry in STAGES.items():
            module = entry.command.partition(":")[0]
            try:
                if importlib.util.find_spec(module) is not None:
                    names.append(name)
            except ModuleNotFoundError:
                continue
        return names


def _with_extras(command: click.Command, extras: tuple[str, ...], what: str) -> click.Command:
    """``command``, checking before it runs (not for ``--help``) that the optional installs
    it needs are there (:func:`xladjust.extras.require`)."""
    if not extras or getattr(command, "_extras_checked", False):
        return command
    invoke = command.invoke

    def checked_invoke(ctx: click.Context) -> Any:
        require(extras, what)
        return invoke(ctx)

    command.invoke = checked_invoke  # type: ignore[method-assign]
    command._extras_checked = True  # type: ignore[attr-defined]
    return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=example("xladjust --threads 1 run configs/demo.yaml"))
@click.version_option(__version__, "--version", prog_name="xladjust")
@click.option("-v", "--verbose", count=True, help="More log output (repeat for debug logs).")
@click.option("-q", "--quiet", count=True, help="Less output: warnings and errors only.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option("--threads", type=ct.POSITIVE_THREADS, default=None,
              help="CPU threads for torch and OpenMP (default: all cores). 1 per job when several jobs share a CPU.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: int, debug: bool, threads: int | None) -> None:
    """xladjust: cross-lingual adjustment of multilingual encoders.

    Align a parallel corpus, adjust an encoder so aligned words move together, probe
    word distances and retrieval, and compare checkpoints after task fine-tuning.
    """
    level = logging.INFO - 10 * verbose + 10 * quiet
    if debug:
        level = logging.DEBUG
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("transformers", "datasets", "urllib3", "filelock", "httpx", "huggingface_hub", "faiss"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    if threads is not None:
        set_threads(threads)
    from xladjust.progress import quiet_library_bars

    quiet_library_bars()  # a log file gets progress lines, not carriage-return frames
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet > 0


INTERRUPT_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


def install_signal_handlers() -> dict[int, Any]:
    """SIGINT, SIGTERM (kill, SLURM, scancel) and SIGHUP all interrupt the command the
    same way (a signal the parent ignores, as under nohup, stays ignored); only possible
    from the main thread. Returns the previous handlers."""
    import signal
    import threading

    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    forget_signals()
    for name in INTERRUPT_SIGNALS:
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, on_signal)
    return previous


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    import signal

    for signum, handler in previous.items():
        signal.signal(signum, handler)


def main(argv: list[str] | None = None) -> Any:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    previous = install_signal_handlers()
    try:
        return _main(args, debug)
    finally:
        _restore_signal_handlers(previous)  # main() may be called from Python (tests, notebooks)


def _main(args: list[str], debug: bool) -> Any:
    try:
        return cli.main(args=args, prog_name="xladjust", standalone_mode=False)
    except XladjustError as exc:
        _fail(exc, debug, str(exc))
    except click.exceptions.Abort:
        click.echo("xladjust: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        no_args_help = getattr(click.exceptions, "NoArgsIsHelpError", ())
        if isinstance(exc, no_args_help) and getattr(exc, "ctx", None) is not None:
            click.echo(exc.ctx.get_help())  # a bare group (``xladjust``, ``xladjust align``) shows its help
            sys.exit(0)
        _fail(exc, debug, usage_line(exc))
    except (KeyboardInterrupt, Interrupted) as exc:
        import signal

        signum = getattr(exc, "signum", signal.SIGINT)
        name = signal.Signals(signum).name
        click.echo(f"xladjust: interrupted ({name}); nothing was marked complete. Rerun the same command "
                   "(with --resume where supported)", err=True)
        sys.exit(128 + signum)
    except OSError as exc:
        from xladjust.io import os_error_line

        _fail(exc, debug, os_error_line(exc))


def usage_line(exc: click.ClickException) -> str:
    """A click usage error (unknown option, missing argument, bad choice) as one line
    naming the command and where to find its options."""
    message = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    return message


def _fail(exc: BaseException, debug: bool, message: str) -> None:
    if debug:
        traceback.print_exception(exc)
    problems = getattr(exc, "problems", None) if getattr(exc, "one_line_each", False) else None
    problems = problems or []
    if len(problems) > 1:  # e.g. the input data's problems: a count, then one line per problem
        message = f"{len(problems)} problems in the input data:"
    for line in [message, *(problems if len(problems) > 1 else [])]:
        one_line = " ".join(str(line).split())
        if len(one_line) > MAX_MESSAGE:
            one_line = one_line[: MAX_MESSAGE - 1] + "…"
        _say(f"xladjust: error: {one_line}")
    sys.exit(2)


def _say(line: str) -> None:
    """``line`` on stderr; when stderr is closed or cannot be written (a full disk, a
    closed pipe) the exit status alone tells, and Python's own flush at exit must not turn
    it into status 1 or 120."""
    try:
        click.echo(line, err=True)
        if sys.stderr is not None:
            sys.stderr.flush()
    except (OSError, ValueError):
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives until the process exits


MAX_MESSAGE = 4000  # characters of one error line; values inside are shortened first (config.shorten)


if __name__ == "__main__":  # pragma: no cover
    main()
