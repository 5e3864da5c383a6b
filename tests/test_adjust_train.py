"""The adjust loop on tiny models: loss, gradients, frozen targets, resume, checkpoints, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_adjust import sample_pairs, write_sample_corpus
from safetensors.torch import load_file

import xladjust.adjust.run as run_module
import xladjust.adjust.train as train_module
from xladjust.adjust import AdjustConfig, adjust
from xladjust.adjust.batching import collate_pairs
from xladjust.adjust.config import EmbeddingUpdates, Schedule
from xladjust.adjust.dataset import draw_examples, scan_corpora
from xladjust.adjust.forward import AlignmentModel, batch_inputs
from xladjust.adjust.objectives import build_objective
from xladjust.adjust.optim import configure_embeddings, lr_factor
from xladjust.adjust.targets import frozen_source_vectors
from xladjust.align.corpus import AlignedPair
from xladjust.config import build_config
from xladjust.errors import ConfigError, InputError, ModelError
from xladjust.models import load_model

FAST = {"precision": "fp32", "progress": False, "batch_size": 4, "lr": 1e-3, "log_every": 1,
        "checkpoint_every": None}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_sample_corpus(tmp_path_factory.mktemp("corpus") / "hand-en-es")


def make_config(model_dir: Path, corpus: Path, out: Path, **overrides) -> AdjustConfig:
    data = {"aligned": [str(corpus)], "out": str(out), "model": str(model_dir), **FAST, **overrides}
    return build_config(AdjustConfig, data)


def step_losses(run_dir: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def max_abs_diff(a: Path, b: Path) -> float:
    ta, tb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert ta.keys() == tb.keys()
    return max(float((ta[k] - tb[k]).abs().max()) for k in ta)


@pytest.mark.parametrize("kind", ["wordpiece", "unigram"])
def test_l2_loss_falls_and_the_run_directory_is_complete(tiny_checkpoints, corpus, tmp_path, kind):
    # one batch of all 12 pairs per epoch: the losses of successive steps are comparable
    out = adjust(make_config(tiny_checkpoints[kind], corpus, tmp_path / "run", epochs=8, batch_size=12,
                             special_tokens=True, lr=3e-3, schedule="constant", warmup_steps=0))
    losses = step_losses(out)
    assert len(losses) == 8
    assert losses[-1] < 0.5 * losses[0]
    manifest = json.loads((out / "xladjust.json").read_text())
    assert manifest["stage"] == "adjust" and manifest["seed"] == 0
    assert manifest["config"]["objective"] == "l2"
    assert manifest["metrics"]["steps"] == 8 and manifest["metrics"]["loss_end"] < manifest["metrics"]["loss_start"]
    assert set(manifest["inputs"]) == {"pairs.jsonl", "model"}  # names travel with the checkpoint
    local = json.loads((out / "xladjust.local.json").read_text())
    assert set(local["inputs"]) == {str(corpus / "pairs.jsonl"), "model"}
    assert manifest["aligned_corpora"][0]["manifest"]["aligner"] == "hand"
    assert manifest["aligned_corpora"][0]["selection"]["pairs_selected"] == 12
    assert {"torch", "transformers"} <= set(manifest["versions"])
    assert (out / ".complete").exists() and not (out / "checkpoints").exists()


def test_contrastive_loss_falls(tiny_checkpoints, corpus, tmp_path):
    out = adjust(make_config(tiny_checkpoints["unigram"], corpus, tmp_path / "run", epochs=8, batch_size=12,
                             objective="contrastive", objective_options={"negatives": "strong"}, lr=3e-3,
                             schedule="constant", warmup_steps=0))
    losses = step_losses(out)
    assert losses[-1] < losses[0] - 0.3


def test_checkpoint_loads_with_automodel_and_sentence_transformers(tiny_checkpoints, corpus, tmp_path):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    out = adjust(make_config(tiny_checkpoints["wordpiece"], corpus, tmp_path / "run", max_steps=3,
                             objective="contrastive"))
    weights = load_file(str(out / "model.safetensors"))
    assert not any("head" in k for k in weights), "the projection head is discarded on save"
    vanilla = load_file(str(tiny_checkpoints["wordpiece"] / "model.safetensors"))
    assert set(weights) == set(vanilla)
    assert any(not torch.equal(weights[k], vanilla[k]) for k in weights)

    model = AutoModel.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.is_fast
    for name, tensor in model.state_dict().items():
        if name in weights:
            assert torch.equal(tensor, weights[name])
    text = ["the house is big", "la casa es grande"]
    enc = tokenizer(text, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    expected = (hidden * mask).sum(1) / mask.sum(1)
    st = SentenceTransformer(str(out), device="cpu")
    got = st.encode(text, convert_to_tensor=True)
    assert torch.allclose(got, expected, atol=1e-5)


class Captured:
    loop = None
    cache = None  # as they were at the end of training (the run frees them before export)
    anchor = None


@pytest.fixture
def capture_loop(monkeypatch):
    """Keep the Loop object of the next adjust() call (and its cache and anchor) for inspection."""
    original = train_module.run_loop

    def wrapper(loop, state, **hooks):
        Captured.loop = loop
        result = original(loop, state, **hooks)
        Captured.cache, Captured.anchor = loop.cache, loop.anchor
        return result

    monkeypatch.setattr(train_module, "run_loop", wrapper)
    return Captured


def test_frozen_targets_and_reference_parameters_never_change(tiny_checkpoints, corpus, tmp_path, capture_loop):
    model_dir = tiny_checkpoints["unigram"]
    out = adjust(make_config(model_dir, corpus, tmp_path / "l2", epochs=2))
    loop = capture_loop.loop
    vanilla = load_model(str(model_dir), device="cpu")
    fresh, offsets = frozen_source_vectors(vanilla.model, loop.examples, layer=2, num_layers=2,
                                           pad_id=vanilla.tokenizer.pad_token_id, device=torch.device("cpu"))
    assert max_abs_diff(out, model_dir) > 1e-3  # the model did train
    assert torch.equal(capture_loop.cache, fresh) and np.array_equal(loop.cache_offsets, offsets)
    assert not capture_loop.cache.requires_grad

    adjust(make_config(model_dir, corpus, tmp_path / "con", epochs=2, objective="contrastive"))
    anchor = capture_loop.anchor
    reference = dict(vanilla.model.named_parameters())
    names = [n for n, p in capture_loop.loop.encoder.named_parameters() if p.requires_grad]
    embedding = "embeddings.word_embeddings.weight"
    dense = [n for n in names if n != embedding]
    assert len(anchor.refs) == len(dense)
    for name, ref in zip(dense, anchor.refs, strict=True):
        assert torch.equal(ref, reference[name].detach())
    assert torch.equal(anchor.sparse_ref, reference[embedding].detach())
    assert anchor.touched.any()


def _module_and_inputs(tiny_model, corpus, tmp_path, objective, options, embeddings):
    config = AdjustConfig(aligned=[corpus], out=tmp_path / "o", objective=objective, objective_options=options,
                          embeddings=embeddings)
    data = draw_examples(config, scan_corpora(config), tiny_model.tokenizer, 64)
    import copy

    encoder = copy.deepcopy(tiny_model.model).train()
    obj = build_objective(objective, options, 32)
    sparse = configure_embeddings(encoder, embeddings)
    cache, offsets = frozen_source_vectors(encoder, data.examples, layer=2, num_layers=2,
                                           pad_id=tiny_model.tokenizer.pad_token_id, device=torch.device("cpu"))
    batch = collate_pairs(data.examples, np.arange(4), with_source=obj.needs_trainable_source,
                          cache_offsets=offsets, pad_id=tiny_model.tokenizer.pad_token_id)
    return AlignmentModel(encoder, obj, 2, 2), batch_inputs(batch, cache, obj, torch.device("cpu")), cache, sparse


def test_gradients_flow_only_where_they_should(tiny_model, corpus, tmp_path):
    # Cao's setting without regularizer: English is not even forwarded; frozen embeddings get no gradient
    module, inputs, cache, _ = _module_and_inputs(tiny_model, corpus, tmp_path, "l2", {"reg_weight": 0.0},
                                                  EmbeddingUpdates.FREEZE)
    assert inputs["ids"].shape[0] == 4 and "link_source" not in inputs
    before = cache.clone()
    loss, _ = module(**inputs)
    loss.backward()
    assert module.encoder.get_input_embeddings().weight.grad is None
    layer_grads = [p.grad for n, p in module.encoder.named_parameters() if "encoder.layer" in n]
    assert all(g is not None for g in layer_grads) and any(g.abs().sum() > 0 for g in layer_grads)
    assert not inputs["source_frozen"].requires_grad and torch.equal(cache, before)

    # sparse updates: the embedding gradient is sparse and touches only the batch's subwords
    module, inputs, _, sparse = _module_and_inputs(tiny_model, corpus, tmp_path, "l2", {},
                                                   EmbeddingUpdates.SPARSE)
    assert inputs["ids"].shape[0] == 8  # target and English rows
    loss, parts = module(**inputs)
    loss.backward()
    grad = sparse.grad.coalesce()
    assert grad.is_sparse
    rows = set(grad.indices()[0].tolist())
    assert rows <= set(inputs["ids"].unique().tolist())
    assert set(parts) == {"align", "reg"}

    # contrastive: the projection head trains with the encoder
    module, inputs, _, _ = _module_and_inputs(tiny_model, corpus, tmp_path, "contrastive", {"reg_weight": 0.0},
                                              EmbeddingUpdates.TRAIN)
    loss, _ = module(**inputs)
    loss.backward()
    assert all(p.grad is not None for p in module.objective.head.parameters())
    # dense training of the matrix also takes a sparse gradient (RowAdam applies dense Adam's update)
    assert module.encoder.get_input_embeddings().weight.grad.layout == torch.sparse_coo


class Crash(Exception):
    pass


@pytest.mark.parametrize("objective", ["l2", "contrastive"])
def test_resume_after_an_interruption_gives_the_same_weights(tiny_checkpoints, corpus, tmp_path, monkeypatch,
                                                             objective):
    model_dir = tiny_checkpoints["unigram"]
    common = {"max_steps": 6, "grad_accum": 2, "batch_size": 3, "checkpoint_every": 2, "objective": objective}
    straight = adjust(make_config(model_dir, corpus, tmp_path / "straight", **common))

    original = train_module.save_checkpoint

    def crash_after_step_4(loop, state):
        path = original(loop, state)
        if state.step == 4:
            raise Crash("simulated interruption")
        return path

    monkeypatch.setattr(train_module, "save_checkpoint", crash_after_step_4)
    with pytest.raises(Crash):
        adjust(make_config(model_dir, corpus, tmp_path / "resumed", **common))
    monkeypatch.setattr(train_module, "save_checkpoint", original)
    assert not (tmp_path / "resumed" / ".complete").exists()
    assert [p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir()] == ["step-00000004"]

    with pytest.raises(InputError, match="--resume"):
        adjust(make_config(model_dir, corpus, tmp_path / "resumed", **common))
    with pytest.raises(InputError, match="the setting .lr. differs"):
        adjust(make_config(model_dir, corpus, tmp_path / "resumed", resume=True, **{**common, "lr": 2e-3}))
    resumed = adjust(make_config(model_dir, corpus, tmp_path / "resumed", resume=True, **common))

    assert max_abs_diff(straight, resumed) <= 1e-6
    assert max_abs_diff(straight, model_dir) > 1e-4
    assert step_losses(straight) == pytest.approx(step_losses(resumed), abs=1e-6)
    manifest = json.loads((resumed / "xladjust.json").read_text())
    assert manifest["training"]["resumed_from_step"] == 4

    with pytest.raises(InputError, match="complete run; nothing to resume"):
        adjust(make_config(model_dir, corpus, tmp_path / "resumed", resume=True, **common))
    with pytest.raises(InputError, match="already holds a complete run"):
        adjust(make_config(model_dir, corpus, tmp_path / "resumed", **common))


def test_overwrite_refuses_to_delete_a_foreign_directory(tiny_checkpoints, corpus, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(InputError, match="refusing to delete"):
        adjust(make_config(tiny_checkpoints["unigram"], corpus, foreign, overwrite=True))
    assert (foreign / "thesis.tex").exists()


@pytest.fixture
def no_model_load(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the model must not load before input errors are reported")

    monkeypatch.setattr(run_module, "load_model", fail)


def test_bad_corpora_fail_before_the_model_loads(tiny_checkpoints, tmp_path, no_model_load):
    bad = write_sample_corpus(tmp_path / "bad", sample_pairs()[:2] + [AlignedPair(["a"], ["b"], [(0, 5)])])
    with pytest.raises(InputError, match="out of range"):
        adjust(make_config(tiny_checkpoints["unigram"], bad, tmp_path / "o1"))
    same = write_sample_corpus(tmp_path / "same", [AlignedPair(["7", "."], ["7", "."], [(0, 0), (1, 1)])])
    with pytest.raises(InputError, match="no usable links"):
        adjust(make_config(tiny_checkpoints["unigram"], same, tmp_path / "o2"))
    with pytest.raises(InputError, match="does not exist"):
        adjust(make_config(tiny_checkpoints["unigram"], tmp_path / "nowhere", tmp_path / "o3"))


def test_conflicting_options_fail_before_anything_runs(tiny_checkpoints, corpus, tmp_path, no_model_load):
    config = AdjustConfig(aligned=[corpus], out=tmp_path / "o", epochs=2, max_steps=3, warmup_steps=1,
                          warmup_ratio=0.1, resume=True, overwrite=True)
    with pytest.raises(ConfigError) as info:
        adjust(config)
    assert len(info.value.problems) == 3
    assert not (tmp_path / "o").exists()


def test_a_model_without_a_fast_tokenizer_is_rejected(tiny_checkpoints, corpus, tmp_path, monkeypatch):
    import transformers

    class SlowTokenizer:
        is_fast = False

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: SlowTokenizer())
    with pytest.raises(ModelError, match="fast tokenizer"):
        adjust(make_config(tiny_checkpoints["unigram"], corpus, tmp_path / "o"))
    assert not (tmp_path / "o" / "metrics.jsonl").exists()


def test_a_layer_out_of_range_is_an_input_error(tiny_checkpoints, corpus, tmp_path):
    with pytest.raises(InputError, match="layer 7 is out of range"):
        adjust(make_config(tiny_checkpoints["unigram"], corpus, tmp_path / "o", layer=7))


def test_lower_layer_and_frozen_embeddings_run(tiny_checkpoints, corpus, tmp_path):
    out = adjust(make_config(tiny_checkpoints["wordpiece"], corpus, tmp_path / "o", layer=1, max_steps=2,
                             embeddings="freeze", pooling="first"))
    weights = load_file(str(out / "model.safetensors"))
    vanilla = load_file(str(tiny_checkpoints["wordpiece"] / "model.safetensors"))
    assert torch.equal(weights["embeddings.word_embeddings.weight"], vanilla["embeddings.word_embeddings.weight"])
    assert torch.equal(weights["encoder.layer.1.output.dense.weight"], vanilla["encoder.layer.1.output.dense.weight"])
    assert not torch.equal(weights["encoder.layer.0.output.dense.weight"],
                           vanilla["encoder.layer.0.output.dense.weight"])


def test_learning_rate_schedule_counts_optimizer_steps():
    linear = [lr_factor(s, warmup=2, total=6, schedule=Schedule.LINEAR) for s in range(6)]
    assert linear == pytest.approx([0.5, 1.0, 1.0, 0.75, 0.5, 0.25])
    constant = [lr_factor(s, warmup=2, total=6, schedule=Schedule.CONSTANT) for s in range(6)]
    assert constant == pytest.approx([0.5, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert lr_factor(0, warmup=0, total=4, schedule=Schedule.LINEAR) == 1.0


def test_without_dropout_the_regularizer_starts_at_zero(tiny_checkpoints, corpus, tmp_path):
    """Dropout on (the default, as the reference code): the first step's regularizer is
    dropout noise, though the model still equals its frozen copy; off: it is zero."""
    def first_reg(dropout: bool) -> float:
        out = adjust(make_config(tiny_checkpoints["wordpiece"], corpus, tmp_path / f"dropout-{dropout}",
                                 max_steps=1, batch_size=12, dropout=dropout))
        return json.loads((out / "metrics.jsonl").read_text().splitlines()[0])["reg"]

    assert first_reg(False) == pytest.approx(0.0, abs=1e-7)
    assert first_reg(True) > 1e-4


def test_the_tokenizer_is_not_held_through_training_and_the_export_has_it(tiny_checkpoints, corpus, tmp_path,
                                                                          monkeypatch):
    """The tokenizer (330 MB for the offline model) is saved and released once every
    sentence is tokenized; the export carries the tokenizer training used, even when the
    source's files change during the run, and leaves no snapshot behind."""
    import gc
    import shutil
    import weakref

    from xladjust.models import load_tokenizer

    model_dir = Path(shutil.copytree(tiny_checkpoints["unigram"], tmp_path / "model"))
    source = load_tokenizer(str(model_dir))
    loaded_tokenizers, alive = [], []
    original_load, original_loop = run_module.load_model, train_module.run_loop

    def loading(*args, **kwargs):
        loaded = original_load(*args, **kwargs)
        loaded_tokenizers.append(weakref.ref(loaded.tokenizer))
        return loaded

    def counting(loop, state, **kwargs):
        gc.collect()
        alive.append(sum(ref() is not None for ref in loaded_tokenizers))
        for path in model_dir.iterdir():  # the source's tokenizer goes away mid-run
            if "token" in path.name or path.suffix == ".model":
                path.unlink()
        return original_loop(loop, state, **kwargs)

    monkeypatch.setattr(run_module, "load_model", loading)
    monkeypatch.setattr(train_module, "run_loop", counting)
    out = adjust(make_config(model_dir, corpus, tmp_path / "run", max_steps=2))
    assert len(loaded_tokenizers) == 1 and alive == [0]
    text = ["el gato come pescado", "the cat eats fish"]
    exported = load_tokenizer(str(out))
    assert exported(text)["input_ids"] == source(text)["input_ids"]
    assert exported.pad_token_id == source.pad_token_id
    assert not (out / ".tokenizer").exists() and not list(out.glob(".*tmp*"))
