"""``adjust(config)``: set up → train → save, the library entry point of the stage.

Set-up checks everything that can fail before the first optimizer step, cheapest first:
the run directory, the aligned corpora (format, link ranges, usable links), the model and
its fast tokenizer, the layer, and the drawn pairs. The frozen model's English vectors
and θ₀ are taken from the loaded model before any update, so no second model is kept.

The run directory holds, when complete: the Hugging Face checkpoint (config, safetensors
weights, tokenizer, sentence-transformers module files), ``xladjust.json`` (signature,
corpus manifests and selection counts, training summary, final metrics),
``metrics.jsonl`` and ``run.json``; ``.complete`` is written last. While running it also
holds ``checkpoints/`` for ``--resume``.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xladjust.adjust.batching import plan_steps
from xladjust.adjust.checkpoint import check_state, verify_checkpoint
from xladjust.adjust.config import AdjustConfig, Allocator
from xladjust.adjust.dataset import draw_examples, scan_corpora
from xladjust.adjust.export import TOKENIZER_SNAPSHOT, save_encoder, snapshot_tokenizer
from xladjust.adjust.features import check_fast_tokenizer
from xladjust.allocator import use_compact_allocator
from xladjust.config import config_to_dict, result_fingerprint, result_keys
from xladjust.embeddings import model_max_length, resolve_layers
from xladjust.errors import ConfigError, InputError, OutputError
from xladjust.io import (
    is_complete,
    mark_complete,
    read_json,
    replace_dir,
    sha256_file,
    sha256_json,
    write_json_atomic,
)
from xladjust.model_card import finish_checkpoint
from xladjust.models import load_model
from xladjust.outputs import claim_output, judge_existing
from xladjust.resume import content_hashes, verify_same_settings
from xladjust.signature import make_signature
from xladjust.training_common import (
    OnStep,
    broadcast_value,
    require_hook,
    resolve_precision,
    trains_on_cpu,
)
from xladjust.training_state import (
    CHECKPOINTS_DIR,
    list_checkpoints,
    load_training_state,
    remove_checkpoints,
)

# The training modules (forward, objectives, optim, regularizers, targets, train) import torch
# at their top: they are imported where training starts, so that importing this module (as
# the pipeline does) loads no torch.

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
MANIFEST_FILE = "xladjust.json"
# adjust runs written before the run-folder marker existed
_LEGACY = [(RUN_FILE,), (MANIFEST_FILE, "metrics.jsonl"), ("checkpoints",)]


def adjust(config: AdjustConfig, on_step: OnStep | None = None) -> Path:
    """Adjust ``config.model`` on ``config.aligned``; return the run directory (``config.out``).

    ``on_step(step, encoder, last, run_dir)``, if given, is called on the main process at
    the start and after every optimizer step, with the folder the run is built in (the
    geometry curves of ``probe_every``: the caller builds that hook with
    :func:`xladjust.probes.geometry.adjust_hook`).

    The run directory is claimed first (:func:`xladjust.outputs.claim_output`: not an
    input, an earlier adjust run or empty, locked). A fresh run or a resumed one builds in
    place; with ``overwrite`` an earlier run stays intact while the new one is built beside
    it, and is replaced only when the new one is complete.
    """
    wall = time.perf_counter()
    problems = config.check()
    if problems:
        raise ConfigError(problems)
    require_hook(config.probe_every, on_step, "adjust_hook")
    if config.allocator is Allocator.COMPACT:
        use_compact_allocator()
    accelerator = make_accelerator(config)
    with claim_output(config.out, command="adjust", inputs=[*config.aligned, config.model, config.bitext],
                      legacy=_LEGACY, enabled=accelerator.is_main_process) as claim:
        return _adjust(config, accelerator, claim, wall, on_step)


def _adjust(config: AdjustConfig, accelerator: Any, claim: Any, wall: float, on_step: OnStep | None) -> Path:
    from xladjust.adjust.train import run_loop

    resuming, run_dir = prepare_run_dir(config, accelerator, claim)
    # the hook writes where the run is built (a staging folder when replacing)
    hook = functools.partial(on_step, run_dir=run_dir) if on_step is not None else None
    try:
        scans = scan_corpora(config)
        setup = set_up(config, accelerator, scans, run_dir)
        loop = setup.loop
        state = _start(loop, resuming, setup.input_hashes)
        _release_tokenizer(setup, accelerator)
        log.info("%d optimizer steps (warmup %d), %d process(es), precision %s, embeddings %s",
                 len(loop.steps), setup.warmup, accelerator.num_processes, accelerator.mixed_precision,
                 config.embeddings.value)
        resumed_at = state.step
        state = run_loop(loop, state, on_step=hook)
        _release(loop)

        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            if setup.sparse is not None:
                loop.encoder.get_input_embeddings().sparse = False
            setup.timing["run_seconds"] = round(time.perf_counter() - wall, 3)
            _finish(config, setup, state, resumed_at)
            if run_dir != Path(config.out):
                replace_dir(run_dir, Path(config.out))
        accelerator.wait_for_everyone()
    finally:
        if run_dir != Path(config.out) and accelerator.is_main_process:
            shutil.rmtree(run_dir, ignore_errors=True)  # a failed replacement: the earlier run stays
    return Path(config.out)


@dataclass
class Setup:
    """What :func:`set_up` builds: the loop plus what the run's manifest reports."""

    loop: Any  # xladjust.adjust.train.Loop
    loaded: Any  # LoadedModel
    data: Any  # AdjustData
    sparse: Any  # the sparsely updated embedding matrix, if any
    warmup: int
    timing: dict[str, float] = field(default_factory=dict)
    input_hashes: dict[str, str] = field(default_factory=dict)  # content hashes a resume must match


def set_up(config: AdjustConfig, accelerator: Any, scans: list[Any], run_dir: Path | None = None) -> Setup:
    """Load the model, draw the pairs, cache frozen targets and θ₀, build optimizers and plan."""
    from accelerate.utils import set_seed

    from xladjust.adjust.forward import AlignmentModel, enable_gradient_checkpointing
    from xladjust.adjust.objectives import build_objective
    from xladjust.adjust.optim import configure_embeddings, make_optimizers, make_schedulers
    from xladjust.adjust.regularizers import ParameterAnchor
    from xladjust.adjust.targets import frozen_source_vectors
    from xladjust.adjust.train import Loop

    set_seed(config.seed)
    loaded = load_model(config.model, device=str(accelerator.device), for_training=True)
    check_fast_tokenizer(loaded.tokenizer)
    encoder, tokenizer = loaded.model, loaded.tokenizer
    num_layers = loaded.num_layers
    layer = resolve_layers(config.layer, num_layers)[0]
    max_length = model_max_length(encoder, tokenizer)
    if config.max_subwords is not None:
        max_length = min(max_length, config.max_subwords)
    data = draw_examples(config, scans, tokenizer, max_length)
    log.info("training on %d sentence pairs, %d links", len(data.examples), data.n_links)

    objective = build_objective(config.objective, config.objective_config(), loaded.hidden_size)
    objective.to(accelerator.device)
    sparse = configure_embeddings(encoder, config.embeddings, config.weight_decay)
    if config.gradient_checkpointing:
        enable_gradient_checkpointing(encoder)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    cache = offsets = None
    started = time.perf_counter()
    if objective.needs_frozen_source:  # from the model as loaded: θ₀
        cache, offsets = frozen_source_vectors(
            encoder, data.examples, layer=layer, num_layers=num_layers, pad_id=pad_id,
            device=accelerator.device, autocast=accelerator.autocast,
            progress=config.progress and accelerator.is_main_process,
        )
    timing = {"targets_seconds": round(time.perf_counter() - started, 3),
              "frozen_tokens": sum(e.src.n_tokens for e in data.examples) if cache is not None else 0}
    anchor = None
    if objective.needs_anchor:
        anchor = ParameterAnchor([p for p in encoder.parameters() if p.requires_grad and p is not sparse], sparse)
        objective.attach_anchor(anchor)

    module = AlignmentModel(encoder, objective, layer, num_layers)
    optimizers = make_optimizers(module, config, sparse)
    steps = plan_steps(
        [e.length for e in data.examples], seed=config.seed, batch_size=config.batch_size,
        max_tokens=config.max_tokens, rows_per_pair=2 if objective.needs_trainable_source else 1,
        grad_accum=config.grad_accum, epochs=config.resolved_epochs, max_steps=config.max_steps,
        world_size=accelerator.num_processes, rank=accelerator.process_index,
    )
    schedulers, warmup = make_schedulers(optimizers, config, len(steps))
    prepared, *prepared_optimizers = accelerator.prepare(module, *optimizers)
    loop = Loop(config=config, accelerator=accelerator, module=prepared, objective=objective, encoder=encoder,
                optimizers=prepared_optimizers, schedulers=schedulers, examples=data.examples, steps=steps,
                cache=cache, cache_offsets=offsets, anchor=anchor, pad_id=pad_id,
                run_dir=Path(run_dir if run_dir is not None else config.out),
                fingerprints={"data": data.fingerprint(), "config": config_fingerprint(config)})
    setup = Setup(loop, loaded, data, sparse, warmup, timing)
    # keyed by role, not path: a resume checks contents, wherever the inputs now live
    setup.input_hashes = {f"aligned corpus {k + 1}": digest for k, digest in enumerate(data.hashes.values())}
    setup.input_hashes.update(_weights_hash(loaded))
    loop.fingerprints["inputs"] = sha256_json(setup.input_hashes)
    return setup


def _start(loop: Any, resuming: bool, input_hashes: dict[str, str] | None = None) -> Any:
    """The loop state to start from: the newest checkpoint when resuming, else step 0.
    A checkpoint is verified first (:func:`~xladjust.adjust.checkpoint.verify_checkpoint`):
    the inputs' contents unchanged, every file whole."""
    from xladjust.adjust.train import LoopState, restore, trainable_tensors

    state = LoopState()
    checkpoints = list_checkpoints(loop.run_dir) if resuming else []
    inputs = dict(input_hashes or {})
    if checkpoints:
        verify_same_settings(checkpoints[-1], _recorded_settings(loop.run_dir), fingerprinted_settings(loop.config))
        labels = {f"aligned corpus {k + 1}": f"aligned corpus {path}" for k, path in enumerate(loop.config.aligned)}
        verify_checkpoint(checkpoints[-1], run_dir=loop.run_dir, recorded_inputs=_recorded_inputs(loop.run_dir),
                          inputs=inputs, labels=labels, n_optimizers=len(loop.optimizers),
                          has_objective=bool(dict(loop.objective.state_dict())))
        saved = load_training_state(checkpoints[-1])
        check_state(saved, set(trainable_tensors(loop.encoder)), len(loop.optimizers), len(loop.schedulers))
        state = restore(loop, saved)
        log.info("resuming from %s (step %d of %d)", checkpoints[-1], state.step, len(loop.steps))
    elif resuming:
        log.warning("no checkpoint in %s yet: starting the run from the beginning", loop.run_dir)
    if loop.accelerator.is_main_process:
        write_json_atomic(loop.run_dir / RUN_FILE, {"config": config_to_dict(loop.config),
                                                    "fingerprints": loop.fingerprints, "inputs": inputs})
    return state


def _recorded_settings(run_dir: Path) -> dict[str, Any] | None:
    """The settings of :func:`fingerprinted_settings` as the interrupted run recorded them
    in ``run.json`` (None if it recorded none)."""
    try:
        recorded = read_json(Path(run_dir) / RUN_FILE).get("config")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(recorded, dict):
        return None
    return {k: v for k, v in recorded.items() if k not in (*AdjustConfig.RUN_CONTROL_KEYS, *_PATH_KEYS)}


def _recorded_inputs(run_dir: Path) -> dict[str, str] | None:
    """The input content hashes the interrupted run recorded in ``run.json`` (None if none)."""
    try:
        recorded = read_json(Path(run_dir) / RUN_FILE).get("inputs")
    except (OSError, ValueError, AttributeError):
        return None
    return recorded if isinstance(recorded, dict) else None


def _weights_hash(loaded: Any) -> dict[str, str]:
    """Content hash of the model's weight files (a local or cached checkpoint)."""
    path = Path(loaded.path)
    if not path.is_dir():
        return {}
    files = sorted(path.glob("*.safetensors"))
    return {"model weights": sha256_json(content_hashes({f.name: f for f in files}))} if files else {}


def _release_tokenizer(setup: Setup, accelerator: Any) -> None:
    """Every sentence is tokenized and a resume's checks have passed: save the tokenizer into
    the run directory for the export and stop holding it through training (the offline
    model's is 330 MB resident; the defaults' peak falls by about 200 MB)."""
    if accelerator.is_main_process:
        snapshot_tokenizer(setup.loaded.tokenizer, setup.loop.run_dir)
    setup.loaded.tokenizer = None


def _release(loop: Any) -> None:
    """Free optimizer states and caches before the export loads anything else."""
    import gc

    for optimizer in loop.optimizers:
        optimizer.state.clear()
    loop.cache = None
    loop.anchor = None
    if hasattr(loop.objective, "anchor"):
        del loop.objective.anchor
    gc.collect()


def make_accelerator(config: AdjustConfig) -> Any:
    """An ``Accelerator`` for the config's device and precision (launch settings apply)."""
    import torch
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedDataParallelKwargs

    cpu = trains_on_cpu(config.device)
    on_gpu = torch.cuda.is_available() and not cpu
    precision = resolve_precision(config.precision, on_gpu)
    state = AcceleratorState._shared_state
    if state and state.get("_mixed_precision") != precision:
        # A second run in the same process (tests, notebooks, pipelines) with another
        # precision: accelerate keeps one global state, so start it afresh (the process
        # group, if any, is kept).
        AcceleratorState._reset_state()
    ddp = DistributedDataParallelKwargs(find_unused_parameters=config.layer != -1)
    return Accelerator(cpu=cpu, mixed_precision=precision, kwargs_handlers=[ddp])



def prepare_run_dir(config: AdjustConfig, accelerator: Any, claim: Any) -> tuple[bool, Path]:
    """(resuming, the directory to build in). ``claim`` has checked that ``out`` is empty,
    absent or an earlier adjust run. An earlier run is only replaced at the end: with
    ``overwrite`` the new run is built in the claim's staging folder.

    Only the main process judges the folder, and every process gets its verdict: another
    rank looking while the main process writes the folder's marker would see the marker's
    temporary file and take the folder for an earlier run."""
    out = Path(config.out)
    main = accelerator.is_main_process
    problem, occupied = broadcast_value(accelerator, _judge_run_dir(config, out) if main else None)
    if problem:
        raise InputError(problem)
    run_dir = out
    if occupied and not config.resume:
        run_dir = claim.staging_dir()
        if main:
            shutil.rmtree(run_dir, ignore_errors=True)
    if main:
        claim.mark(run_dir)
    accelerator.wait_for_everyone()
    return config.resume and occupied, run_dir


def _judge_run_dir(config: AdjustConfig, out: Path) -> tuple[str | None, bool]:
    """(what is wrong with building in ``out``, or None; whether it holds an earlier run):
    the output rule of every command (:func:`xladjust.outputs.judge_existing`)."""
    try:
        return None, judge_existing(out, overwrite=config.overwrite, resume=config.resume)
    except OutputError as exc:
        return str(exc), False


# where the inputs and the output live: a resume checks the inputs' contents instead
_PATH_KEYS = ("aligned", "out", "model")


def config_fingerprint(config: AdjustConfig) -> str:
    """Hash of the options that change what a run computes (run-control flags and the
    paths of inputs and output excluded: the inputs' contents are checked on their own)."""
    return result_fingerprint(config, *_PATH_KEYS)


def fingerprinted_settings(config: AdjustConfig) -> dict[str, Any]:
    """The options that change what a run computes, as :func:`config_fingerprint` hashes them."""
    return result_keys(config, *_PATH_KEYS)


def _finish(config: AdjustConfig, setup: Setup, state: Any, resumed_at: int) -> None:
    """Export the encoder, write ``xladjust.json``, drop checkpoints, mark the run complete."""
    import torch

    loaded, data, loop = setup.loaded, setup.data, setup.loop
    run_dir = loop.run_dir
    files = save_encoder(loaded.model, run_dir / TOKENIZER_SNAPSHOT, run_dir)
    k = max(1, min(10, len(state.losses) // 4))  # steps averaged at each end
    head, tail = state.losses[:k], state.losses[-k:]
    seconds = state.seconds + setup.timing["targets_seconds"]
    metrics = {
        "loss_start": sum(head) / len(head) if head else None,
        "loss_end": sum(tail) / len(tail) if tail else None,
        "steps": state.step,
        "epochs": (loop.steps[-1].epoch + 1) if loop.steps else 0,
        "pairs_seen": state.pairs,
        "tokens_seen": state.tokens,
        "train_seconds": round(state.seconds, 3),
        # the frozen English pass is part of the cost of a run: counted in the rate
        "pairs_per_s": state.pairs / seconds if seconds > 0 else None,
        "train_pairs_per_s": state.pairs / state.seconds if state.seconds > 0 else None,
        "targets_seconds": setup.timing["targets_seconds"],  # caching frozen vectors (this invocation)
        "frozen_tokens": setup.timing["frozen_tokens"],  # subwords of that pass
    }
    model_info = _model_info(loaded)
    inputs = dict(data.hashes)
    if model_info.get("weights_sha256"):
        inputs["model"] = model_info["weights_sha256"]
    accelerator = loop.accelerator
    signature = make_signature(
        stage="adjust", config=config_to_dict(config), seed=config.seed, inputs=inputs,
        extra={
            "model": model_info,
            "aligned_corpora": [
                {"path": str(s.directory), "manifest": s.manifest, "selection": s.stats.as_dict()}
                for s in data.scans
            ],
            "data": {"pairs": len(data.examples), "links": data.n_links, "fingerprint": data.fingerprint()},
            "training": {
                "optimizer_steps": len(loop.steps), "warmup_steps": setup.warmup,
                "processes": accelerator.num_processes, "device": str(accelerator.device),
                "mixed_precision": accelerator.mixed_precision, "embeddings": config.embeddings.value,
                "resumed_from_step": resumed_at or None, "torch": torch.__version__,
            },
            "metrics": metrics,
            "run_seconds": setup.timing["run_seconds"],  # this invocation, set-up to export
            "files": files,
        },
    )
    # portable tokenizer and ST files; xladjust.json (shareable) and its local twin; README.md model card
    finish_checkpoint(run_dir, signature)
    if not config.keep_checkpoints_at_end and (run_dir / CHECKPOINTS_DIR).exists():
        remove_checkpoints(run_dir)
    mark_complete(run_dir)
    log.info("adjusted checkpoint written to %s", run_dir)


def _model_info(loaded: Any) -> dict[str, Any]:
    model = loaded.model
    info: dict[str, Any] = {
        "spec": loaded.spec, "source": loaded.path, "type": model.config.model_type,
        "layers": loaded.num_layers, "hidden_size": loaded.hidden_size,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    weights = Path(loaded.path) / "model.safetensors"
    if weights.is_file():
        info["weights_sha256"] = sha256_file(weights)
    elif not os.path.isdir(loaded.path):
        info["revision"] = getattr(model.config, "_commit_hash", None)
    return info


def read_run_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The ``xladjust.json`` of a complete adjust run."""
    path = Path(run_dir) / MANIFEST_FILE
    if not is_complete(run_dir) or not path.is_file():
        raise InputError(f"{run_dir} is not a complete adjust run (no {MANIFEST_FILE} or .complete)")
    return read_json(path)
