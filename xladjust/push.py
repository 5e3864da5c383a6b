"""``xladjust push RUN_DIR REPO_ID``: upload an adjusted or fine-tuned checkpoint to the hub.

The run directory must be complete and hold a checkpoint (``model.safetensors`` and
``xladjust.json``). What is uploaded is the checkpoint as it loads elsewhere: weights,
configs, tokenizer, sentence-transformers files, ``xladjust.json``, ``metrics.json(l)`` and
the model card (``README.md``; built from ``xladjust.json`` when an older run has none,
without writing it into the run). Resume checkpoints, predictions, temporary files and
markers stay home. One commit, through ``huggingface_hub``; the token is the one
``huggingface_hub`` finds (``HF_TOKEN`` or ``hf auth login``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from xladjust.cli.options import example
from xladjust.errors import ExternalToolError, InputError
from xladjust.io import is_complete, read_json

log = logging.getLogger(__name__)

_REPO_ID = re.compile(r"^(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}$")
_SKIP_DIRS = {"checkpoints", "predictions", "runs"}
_SKIP_NAMES = {"run.json"}


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    url: str
    files: list[str]


def files_to_push(run_dir: Path) -> list[Path]:
    """The run's files that make up the checkpoint, relative to ``run_dir``, sorted."""
    chosen = []
    for path in sorted(run_dir.rglob("*")):
        rel = path.relative_to(run_dir)
        if not path.is_file() or rel.parts[0] in _SKIP_DIRS or rel.name in _SKIP_NAMES:
            continue
        if any(part.startswith(".") for part in rel.parts) or rel.name.endswith(".tmp"):
            continue
        chosen.append(rel)
    return chosen


def check_run(run_dir: Path) -> dict[str, Any]:
    """The run's ``xladjust.json`` after checking that it holds a complete checkpoint."""
    if not run_dir.is_dir():
        raise InputError(f"{run_dir} does not exist; give an adjust or fine-tuning run directory")
    if not (run_dir / "xladjust.json").is_file() or not (run_dir / "model.safetensors").is_file():
        raise InputError(f"{run_dir} holds no checkpoint (xladjust.json and model.safetensors); give an adjust "
                         "run or a fine-tuning run saved with its model")
    if not is_complete(run_dir):
        raise InputError(f"{run_dir} is incomplete (interrupted run?); finish it (--resume) before pushing")
    return read_json(run_dir / "xladjust.json")


def push_run(run_dir: str | Path, repo_id: str, *, private: bool = False, message: str | None = None,
             api: Any = None) -> PushResult:
    """Create ``repo_id`` if needed and upload the checkpoint of ``run_dir`` in one commit.
    ``api`` is a ``huggingface_hub.HfApi`` (made here when not given)."""
    run_dir = Path(run_dir)
    if not _REPO_ID.match(repo_id):
        raise InputError(f"repo id {repo_id!r} is not valid; use NAME or OWNER/NAME (letters, digits, '-', '_', '.')")
    manifest = check_run(run_dir)
    try:
        from huggingface_hub import CommitOperationAdd, HfApi
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError:  # huggingface_hub < 0.24 keeps the errors in utils
        from huggingface_hub import CommitOperationAdd, HfApi
        from huggingface_hub.utils import HfHubHTTPError
    api = api if api is not None else HfApi()
    files = files_to_push(run_dir)
    operations = [CommitOperationAdd(path_in_repo=p.as_posix(), path_or_fileobj=str(run_dir / p)) for p in files]
    if Path("README.md") not in files:
        from xladjust.model_card import model_card

        card = model_card(manifest).encode("utf-8")
        operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card))
    stage = manifest.get("stage", "checkpoint")
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        api.create_commit(repo_id=repo_id, repo_type="model", operations=operations,
                          commit_message=message or f"xladjust {stage} checkpoint from {run_dir.name}")
    except HfHubHTTPError as exc:
        raise ExternalToolError(f"the hub refused {repo_id!r}: {' '.join(str(exc).split())[:300]} (log in with "
                                "`hf auth login` or set HF_TOKEN; check the repo name and your rights)") from None
    except OSError as exc:
        raise ExternalToolError(f"could not reach the hub to push {repo_id!r}: {exc}") from None
    names = [op.path_in_repo for op in operations]
    log.info("pushed %d files of %s to %s", len(names), run_dir, repo_id)
    return PushResult(repo_id=repo_id, url=str(url), files=names)


@click.command("push", epilog=example("xladjust push runs/adjust-en-es my-user/e5-small-adjusted-en-es --private"))
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("repo_id")
@click.option("--private", is_flag=True, help="Create the repository as private.")
@click.option("--message", default=None, help="Commit message (default names the run).")
def push_command(run_dir: Path, repo_id: str, private: bool, message: str | None) -> None:
    """Upload an adjusted or fine-tuned checkpoint (with its model card) to the Hugging Face hub.

    Example: xladjust push runs/demo/adjust my-name/e5-small-adjusted-en-es
    """
    result = push_run(run_dir, repo_id, private=private, message=message)
    click.echo(f"pushed {len(result.files)} files to {result.url}")
