"""``xladjust push RUN_DIR REPO_ID``: upload an adjusted or fine-tuned checkpoint to the hub.

The run directory must be complete and hold a checkpoint (``model.safetensors`` and
``xladjust.json``). What is uploaded is chosen by an allow-list (:func:`files_to_push`): the
checkpoint as it loads elsewhere (weights, configs, tokenizer, sentence-transformers
files), ``xladjust.json``, ``metrics.json(l)``, ``geometry.jsonl`` and the model card
(``README.md``), each only as a regular file of the run itself: a symlink, a file under a
symlinked folder or any file not on the list (resume checkpoints, predictions, the local
record ``xladjust.local.json``, markers, a stray file) stays home.

Everything is checked before the first network call (:func:`plan_push`): every weights
file loads as safetensors, holds only finite values and has the sha256 the run recorded
when it saved it (older runs recorded none: a warning says so); no uploaded text holds an
absolute path of this machine (older runs' ``xladjust.json``/``metrics.json`` are reduced
on the way, their card rebuilt); the card's usage snippet names the repo and its front
matter has a license (inherited from the base model, else ``--license``). ``--dry-run``
prints the plan and stops. The upload is one commit through ``huggingface_hub``; the
token is the one ``huggingface_hub`` finds (``HF_TOKEN`` or ``hf auth login``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from xladjust.cli.options import example
from xladjust.errors import ExternalToolError, InputError
from xladjust.io import is_complete, read_json, read_json_object, sha256_file

# 'xladjust push --help' imports this module (the command is here): what an upload needs
# (the model card, shareable records, lineage, the finiteness check) is imported when it runs.

log = logging.getLogger(__name__)

_REPO_ID = re.compile(r"^(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}$")
_REVISION = re.compile(r"^[A-Za-z0-9][\w./-]{0,199}$")
_LICENSE = re.compile(r"^[a-z0-9][a-z0-9.+-]{0,63}$")

# the files a checkpoint is made of, at the top of the run directory
ALLOWED_FILES = frozenset({
    "config.json", "model.safetensors", "model.safetensors.index.json", "generation_config.json",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.txt", "sentencepiece.bpe.model", "spiece.model",
    "modules.json", "config_sentence_transformers.json", "sentence_bert_config.json",
    "README.md", "xladjust.json", "metrics.json", "metrics.jsonl", "geometry.jsonl",
})
_SHARDS = re.compile(r"^model-\d{5}-of-\d{5}\.safetensors$")
_MODULE_DIR = re.compile(r"^\d+_[A-Za-z]+$")  # sentence-transformers modules: 1_Pooling/config.json
_SHAREABLE_JSON = ("xladjust.json", "metrics.json")  # may hold paths in runs of older versions


@dataclass(frozen=True)
class PushPlan:
    """What would be uploaded: ``uploads`` maps each path in the repo to its local file or
    to the bytes sent instead (a card filled for the repo, a record with paths reduced)."""

    run_dir: Path
    repo_id: str
    uploads: dict[str, Path | bytes]
    card: str
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    url: str
    files: list[str]


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def files_to_push(run_dir: Path) -> list[Path]:
    """The run's own files that make up the checkpoint, relative to ``run_dir``, sorted:
    allow-listed names only, regular files only (no symlink, nothing under a symlink)."""
    run_dir = Path(run_dir)
    chosen = []
    for entry in sorted(run_dir.iterdir()):
        if _real_dir(entry) and _MODULE_DIR.match(entry.name):
            if _regular(entry / "config.json"):
                chosen.append(Path(entry.name, "config.json"))
        elif (entry.name in ALLOWED_FILES or _SHARDS.match(entry.name)) and _regular(entry):
            chosen.append(Path(entry.name))
    return sorted(chosen, key=lambda p: p.as_posix())


def check_run(run_dir: Path) -> dict[str, Any]:
    """The run's ``xladjust.json`` after checking that it holds a complete checkpoint."""
    if not run_dir.is_dir():
        raise InputError(f"{run_dir} does not exist; give an adjust or fine-tuning run directory")
    if not _regular(run_dir / "xladjust.json") or not _regular(run_dir / "model.safetensors"):
        raise InputError(f"{run_dir} holds no checkpoint (xladjust.json and model.safetensors as regular files); "
                         "give an adjust run or a fine-tuning run saved with its model")
    if not is_complete(run_dir):
        raise InputError(f"{run_dir} is incomplete (interrupted run?); finish it (--resume) before pushing")
    return read_json_object(run_dir / "xladjust.json", "the run's record")


def verify_weights(run_dir: Path, files: list[Path], record: dict[str, Any]) -> list[str]:
    """Check every weights file among ``files``: the sha256 the run recorded, loadable as
    safetensors, every value finite. Raise :class:`InputError` (one line) on the first
    problem; return notes (an older run without recorded hashes)."""
    from xladjust.model_card import WEIGHTS_RECORD

    weights = [p for p in files if p.suffix == ".safetensors"]
    recorded = record.get(WEIGHTS_RECORD)
    notes = []
    if not isinstance(recorded, dict):
        notes.append(f"{run_dir / 'xladjust.json'} records no weight hashes (written by an older xladjust): the "
                     "weights were checked to load and be finite, not against the run's record")
    else:
        missing = sorted(set(recorded) - {p.as_posix() for p in weights})
        if missing:
            raise InputError(f"{run_dir / missing[0]} is missing or not a regular file although the run recorded "
                             "it; restore it or rerun the run")
    for rel in weights:
        path = run_dir / rel
        if isinstance(recorded, dict):
            digest = sha256_file(path)
            if recorded.get(rel.as_posix()) != digest:
                raise InputError(f"{path} is not the file the run saved (sha256 {digest[:12]}…, recorded "
                                 f"{str(recorded.get(rel.as_posix()))[:12]}…): it changed after the run; "
                                 "restore it or rerun the run")
        _check_safetensors(path)
    return notes


def _check_safetensors(path: Path) -> None:
    """Load every tensor of ``path`` (one at a time) and refuse a non-finite one."""
    from safetensors import safe_open

    from xladjust.finite import first_non_finite

    try:
        with safe_open(str(path), framework="pt") as handle:
            names = list(handle.keys())
            if not names:
                raise InputError(f"{path} holds no tensor; the checkpoint is destroyed: rerun the run")
            for name in names:
                bad = first_non_finite([(name, handle.get_tensor(name))])
                if bad:
                    raise InputError(f"{path}: tensor {bad!r} holds NaN or infinite values; a checkpoint with "
                                     "non-finite weights is not pushed (rerun the run, e.g. with a lower learning rate)")
    except InputError:
        raise
    except Exception as exc:  # safetensors raises its own error type, or OSError/ValueError
        raise InputError(f"{path} does not load as safetensors ({' '.join(str(exc).split())[:200]}); the "
                         "checkpoint is destroyed: rerun the run") from None


def _shared_json(run_dir: Path, name: str, notes: list[str]) -> Path | bytes:
    """``run_dir/name`` as uploaded: the file itself, or its content with absolute paths
    reduced (a run written before records were shareable)."""
    from xladjust.shareable import shareable

    path = run_dir / name
    try:
        data = read_json(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON ({exc}); the run is damaged") from None
    public = shareable(data)
    if public == data:
        return path
    notes.append(f"{name}: absolute paths reduced to names for the upload (the run predates shareable records)")
    return (json.dumps(public, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _card(run_dir: Path, record: dict[str, Any], repo_id: str, license: str | None, notes: list[str]) -> str:
    from xladjust.lineage import lineage
    from xladjust.model_card import CARD_FILE, fill_card, model_card, split_card
    from xladjust.shareable import read_record, shareable, shareable_text

    public = shareable(record)
    if not isinstance(public.get("lineage"), dict):  # an older run: follow its full paths, where they still lead
        try:
            full = read_record(run_dir)
        except (OSError, ValueError):
            full = record
        public["lineage"] = lineage(full if isinstance(full, dict) else record)
    card_path = run_dir / CARD_FILE
    card = card_path.read_text(encoding="utf-8") if _regular(card_path) else None
    if card is None or shareable_text(card) != card or _local_paths(card.encode("utf-8"), run_dir):
        notes.append("README.md: the model card was built from xladjust.json (the run had none, or one with "
                     "local paths)")
        card = model_card(public)
    meta, _ = split_card(card)
    if not license and not meta.get("license") and not public["lineage"].get("license"):
        raise InputError(f"the license of {run_dir}'s base model is unknown; pass --license ID with the base "
                         "model's license (e.g. apache-2.0, mit)")
    inherited = meta.get("license") or public["lineage"].get("license")
    return fill_card(card, repo_id, license=license or inherited)


def _local_paths(data: bytes, run_dir: Path) -> list[str]:
    """Absolute paths of this machine found in ``data``: the home and working directories
    and the folder holding the run."""
    found = []
    for path in {os.path.expanduser("~"), os.getcwd(), str(Path(run_dir).resolve().parent)}:
        if len(path) > 1 and path.encode("utf-8") in data:
            found.append(path)
    return sorted(found)


def plan_push(run_dir: str | Path, repo_id: str, *, license: str | None = None) -> PushPlan:
    """Every check of a push, no network: the run, the allow-list, the weights, the card,
    and no local path in any uploaded text."""
    run_dir = Path(run_dir)
    if not _REPO_ID.match(repo_id):
        raise InputError(f"repo id {repo_id!r} is not valid; use NAME or OWNER/NAME (letters, digits, '-', '_', '.')")
    if license is not None and not _LICENSE.match(license):
        raise InputError(f"--license {license!r} is not a license id; use the hub's ids such as apache-2.0, mit, "
                         "cc-by-4.0")
    record = check_run(run_dir)
    files = files_to_push(run_dir)
    notes = verify_weights(run_dir, files, record)
    uploads: dict[str, Path | bytes] = {}
    for rel in files:
        name = rel.as_posix()
        uploads[name] = _shared_json(run_dir, name, notes) if name in _SHAREABLE_JSON else run_dir / rel
    card = _card(run_dir, record, repo_id, license, notes)
    uploads["README.md"] = card.encode("utf-8")
    uploads = dict(sorted(uploads.items()))
    for name, content in uploads.items():
        if name.endswith(".safetensors"):
            continue
        data = content if isinstance(content, bytes) else content.read_bytes()
        leaked = _local_paths(data, run_dir)
        if leaked:
            raise InputError(f"{run_dir / name} holds the local path {leaked[0]}; it is not pushed (remove the path "
                             "from the file, or rerun the run with this version)")
    return PushPlan(run_dir=run_dir, repo_id=repo_id, uploads=uploads, card=card, notes=notes)


def describe_plan(plan: PushPlan, *, revision: str | None = None, create_pr: bool = False,
                  private: bool = False) -> str:
    """The dry run's report: where to, the files, one a line, then the card."""
    how = [f"branch {revision}" if revision else "", "as a pull request" if create_pr else "",
           "a private repository" if private else ""]
    how_text = f" ({', '.join(h for h in how if h)})" if any(how) else ""
    lines = [f"would upload {len(plan.uploads)} files of {plan.run_dir} to {plan.repo_id}{how_text}:"]
    lines += [f"  {name}" for name in plan.uploads]
    lines += ["", "README.md (the model card):", "", plan.card.rstrip("\n")]
    return "\n".join(lines) + "\n"


def check_revision(revision: str | None) -> None:
    if revision is not None and (not _REVISION.match(revision) or ".." in revision):
        raise InputError(f"--revision {revision!r} is not a branch name; use letters, digits, '-', '_', '.', '/'")


def push_run(run_dir: str | Path, repo_id: str, *, private: bool = False, message: str | None = None,
             revision: str | None = None, create_pr: bool = False, license: str | None = None,
             api: Any = None) -> PushResult:
    """Check everything (:func:`plan_push`), then create ``repo_id`` if needed and upload
    the checkpoint of ``run_dir`` in one commit (on ``revision``, or as a pull request
    against it with ``create_pr``). ``api`` is a ``huggingface_hub.HfApi`` (made here when
    not given)."""
    check_revision(revision)
    plan = plan_push(run_dir, repo_id, license=license)
    for note in plan.notes:
        log.warning("%s", note)
    try:
        from huggingface_hub import CommitOperationAdd, HfApi
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError:  # huggingface_hub < 0.24 keeps the errors in utils
        from huggingface_hub import CommitOperationAdd, HfApi
        from huggingface_hub.utils import HfHubHTTPError
    api = api if api is not None else HfApi()
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=content if isinstance(content, bytes)
                                     else str(content)) for name, content in plan.uploads.items()]
    stage = read_json(plan.run_dir / "xladjust.json").get("stage", "checkpoint")
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if revision and revision != "main" and not create_pr:
            api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
        info = api.create_commit(repo_id=repo_id, repo_type="model", operations=operations,
                                 commit_message=message or f"xladjust {stage} checkpoint from {plan.run_dir.name}",
                                 revision=revision, create_pr=create_pr)
    except HfHubHTTPError as exc:
        raise ExternalToolError(f"the hub refused {repo_id!r}: {' '.join(str(exc).split())[:300]} (log in with "
                                "`hf auth login` or set HF_TOKEN; check the repo name and your rights)") from None
    except OSError as exc:
        raise ExternalToolError(f"could not reach the hub to push {repo_id!r}: {exc}") from None
    names = [op.path_in_repo for op in operations]
    log.info("pushed %d files of %s to %s", len(names), plan.run_dir, repo_id)
    where = getattr(info, "pr_url", None) or str(url)
    return PushResult(repo_id=repo_id, url=str(where), files=names)


@click.command("push", epilog=example("xladjust push runs/adjust-en-es my-user/e5-small-adjusted-en-es --private"))
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("repo_id")
@click.option("--private", is_flag=True, help="Create the repository as private.")
@click.option("--message", default=None, help="Commit message (default names the run).")
@click.option("--dry-run", is_flag=True,
              help="Check everything and print the files and the model card that would be uploaded; no network.")
@click.option("--revision", default=None, help="Branch to commit to (created if missing; the base of --create-pr).")
@click.option("--create-pr", is_flag=True, help="Open a pull request with the upload instead of committing.")
@click.option("--license", "license_", default=None, metavar="ID",
              help="License id for the card (required when the base model's license is unknown).")
def push_command(run_dir: Path, repo_id: str, private: bool, message: str | None, dry_run: bool,
                 revision: str | None, create_pr: bool, license_: str | None) -> None:
    """Upload an adjusted or fine-tuned checkpoint (with its model card) to the Hugging Face hub.

    Example: xladjust push runs/demo/adjust my-name/e5-small-adjusted-en-es
    """
    if dry_run:
        check_revision(revision)
        plan = plan_push(run_dir, repo_id, license=license_)
        for note in plan.notes:
            click.echo(f"note: {note}", err=True)
        click.echo(describe_plan(plan, revision=revision, create_pr=create_pr, private=private), nl=False)
        return
    result = push_run(run_dir, repo_id, private=private, message=message, revision=revision,
                      create_pr=create_pr, license=license_, api=None)
    click.echo(f"pushed {len(result.files)} files to {result.url}")
