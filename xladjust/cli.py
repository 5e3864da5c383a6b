"""The ``xladjust`` command line: a thin layer over the library API.

Stage commands are registered in :data:`LAZY_COMMANDS` and imported only when invoked,
so ``xladjust --help`` stays instant. Only this module configures logging and exits.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from typing import Any

import click

from xladjust import __version__
from xladjust import cli_types as ct
from xladjust.cli_options import example
from xladjust.errors import XladjustError
from xladjust.interrupts import Interrupted, forget_signals, on_signal

# name -> ("module:attribute", short help). A stage adds its commands here.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "model": ("xladjust.commands:model_group", "Prepare and verify model checkpoints."),
    "embed": ("xladjust.commands:embed_command", "Contextual word vectors for pre-tokenized sentences."),
    "validate": ("xladjust.commands:validate_command", "Check a config file without running it."),
    "align": ("xladjust.align.cli:align_group", "Word-align a parallel corpus; evaluate alignments."),
    "adjust": ("xladjust.adjust.cli:adjust_command", "Adjust an encoder on an aligned corpus."),
    "probe": ("xladjust.probes.cli:probe_command", "Word distances, paired differences and retrieval."),
    "finetune": ("xladjust.tasks.cli:finetune_command", "Fine-tune a checkpoint on a task."),
    "evaluate": ("xladjust.tasks.cli:evaluate_command", "Evaluate a fine-tuned checkpoint zero-shot."),
    "transfer": ("xladjust.tasks.cli:transfer_command", "Fine-tune and compare checkpoints over seeds."),
    "interpolate": ("xladjust.probes.landscape_cli:interpolate_command", "Evaluate along the line between two checkpoints."),
    "flatness": ("xladjust.probes.landscape_cli:flatness_command", "Error along random directions around a checkpoint."),
    "compare": ("xladjust.probes.landscape_cli:compare_command", "One report over many run directories."),
    "push": ("xladjust.push:push_command", "Upload a checkpoint with its model card to the Hugging Face hub."),
    "run": ("xladjust.pipeline:run_command", "Run a whole pipeline from one config file."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._available()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target[0].partition(":")
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                return None  # the stage is not part of this version
            raise
        return getattr(mod, attr, None)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, LAZY_COMMANDS[name][1]) for name in self.list_commands(ctx) if name in LAZY_COMMANDS]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    @staticmethod
    def _available() -> list[str]:
        import importlib.util

        names = []
        for name, (target, _) in LAZY_COMMANDS.items():
            module = target.partition(":")[0]
            try:
                if importlib.util.find_spec(module) is not None:
                    names.append(name)
            except ModuleNotFoundError:
                continue
        return names


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


def set_threads(threads: int) -> None:
    """Cap CPU threads: the environment for libraries and processes started later, and
    torch at once if a stage module has imported it already."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


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
