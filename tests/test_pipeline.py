"""``xladjust run``: the whole pipeline on a tiny model and a slice of the demo corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers_cli import run_cli

from xladjust.errors import ConfigError
from xladjust.io import is_complete
from xladjust.pipeline import load_pipeline, run_pipeline

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples" / "demo-en-es"


def write_config(tmp_path: Path, model: Path, **overrides) -> Path:
    cfg = {
        "kind": "pipeline",
        "out": str(tmp_path / "runs"),
        "model": str(model),
        "pairs": [{
            "tgt_lang": "es",
            "train": {"src": str(SAMPLES / "train.en"), "tgt": str(SAMPLES / "train.es"), "max_pairs": 60},
            "heldout": {"src": str(SAMPLES / "heldout.en"), "tgt": str(SAMPLES / "heldout.es"), "max_pairs": 12},
        }],
        "align": {"aligner": {"name": "eflomal", "symmetrize": "intersect"}, "workers": 1},
        "adjust": {"max_steps": 2, "batch_size": 8, "precision": "fp32", "checkpoint_every": 1},
        "probe": {"layers": "last", "precision": "fp32", "resamples": 50},
        **overrides,
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path



def test_pipeline_runs_then_skips_every_stage(tmp_path, tiny_checkpoints, capsys):
    path = write_config(tmp_path, tiny_checkpoints["unigram"])
    code, out, err = run_cli(["-q", "run", str(path)], capsys)
    assert code == 0, err
    runs = tmp_path / "runs"
    for stage in ("align-en-es", "adjust", "probe"):
        assert is_complete(runs / stage), stage
    assert is_complete(runs / "align-en-es" / "heldout") and is_complete(runs / "align-en-es" / "train")
    assert "4 stage(s) ran" not in out and "3 stage(s) ran" in out
    assert "en-es     adjusted" in out  # the before/after table
    code, out, err = run_cli(["-q", "run", str(path)], capsys)
    assert code == 0, err
    assert out.count("skip (up to date)") == 3 and "0 stage(s) ran" in out


def test_changed_adjust_config_reruns_adjust_and_probe_only(tmp_path, tiny_checkpoints):
    path = write_config(tmp_path, tiny_checkpoints["unigram"])
    run_pipeline(load_pipeline(path), progress=False, echo=lambda s: None)
    path = write_config(tmp_path, tiny_checkpoints["unigram"],
                        adjust={"max_steps": 3, "batch_size": 8, "precision": "fp32"})
    done = run_pipeline(load_pipeline(path), progress=False, echo=lambda s: None)
    assert [(name, action) for name, action, _ in done] == [
        ("align en-es", "skipped"), ("adjust", "ran"), ("probe", "ran")]


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path, tiny_checkpoints, capsys):
    path = write_config(tmp_path, tiny_checkpoints["unigram"])
    code, out, _ = run_cli(["run", str(path), "--dry-run"], capsys)
    assert code == 0 and "plan valid: 3 stages" in out and "[2/3] adjust" in out
    assert not (tmp_path / "runs").exists()


def test_self_training_aligner_in_a_pipeline(tmp_path, tiny_checkpoints, capsys):
    """The demo's aligner (embedding, self-training rounds) as a pipeline stage: the plan
    names the extraction, not a symmetrization heuristic the embedding aligner never applies,
    and the train and held-out corpora carry the rounds' record."""
    from xladjust.align.corpus import check_aligned_corpus

    align = {"aligner": {"name": "embedding", "embedding": {"layer": 1, "method": "entmax", "threshold": 0.3,
                                                            "temperature": 0.05, "threads": 1}},
             "self_train": {"rounds": 1, "steps": 2, "batch_size": 4}, "workers": 1}
    path = write_config(tmp_path, tiny_checkpoints["unigram"], align=align)
    code, out, _ = run_cli(["run", str(path), "--dry-run"], capsys)
    assert code == 0 and "embedding (entmax, layer 1), 1 self-training round on train + held-out text" in out
    assert "grow-diag" not in out
    code, out, err = run_cli(["-q", "run", str(path)], capsys)
    assert code == 0, err
    stage = tmp_path / "runs" / "align-en-es"
    for part in ("train", "heldout"):
        history = check_aligned_corpus(stage / part)["self_training"]["history"]
        assert [h["round"] for h in history] == [0, 1]
        assert history[1]["model"] == str(stage / "joint.self-train" / "round-1" / "model")
    assert is_complete(stage / "joint.self-train" / "round-1" / "model")


def test_the_align_preset_applies_in_a_pipeline(tmp_path, tiny_checkpoints, capsys):
    path = write_config(tmp_path, tiny_checkpoints["unigram"], align={"preset": "quality", "workers": 1})
    code, out, err = run_cli(["run", str(path), "--dry-run"], capsys)
    assert code == 0, err
    assert "embedding (softmax, default layer), 2 self-training rounds on train + held-out text" in out


def test_every_config_problem_is_reported_before_work(tmp_path, tiny_checkpoints, capsys):
    path = write_config(tmp_path, tiny_checkpoints["unigram"], adjust={"objective": "nope", "lr": -1},
                        probe={"layers": "middle"}, surprise=1)
    with pytest.raises(ConfigError) as exc:
        load_pipeline(path)
    text = " ".join(exc.value.problems)
    assert "unknown key 'surprise'" in text
    path = write_config(tmp_path, tiny_checkpoints["unigram"], adjust={"objective": "nope", "lr": -1},
                        probe={"layers": "middle"})
    with pytest.raises(ConfigError) as exc:
        load_pipeline(path)
    text = " ".join(exc.value.problems)
    assert "unknown objective 'nope'" in text and "lr must be positive" in text and "'middle'" in text
    code, _, err = run_cli(["validate", str(path)], capsys)
    assert code == 2 and "config problems" in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", ["demo.yaml", "efimov2022-mbert.yaml", "wu2022-landscape.yaml"])
def test_example_configs_validate(name, capsys):
    code, out, err = run_cli(["validate", str(REPO / "configs" / name)], capsys)
    assert code == 0, err
    assert "valid" in out


def test_landscape_bitexts_must_be_aligned_corpora(tmp_path, capsys):
    import yaml

    config = yaml.safe_load((REPO / "configs" / "wu2022-landscape.yaml").read_text(encoding="utf-8"))
    config["landscape"]["bitexts"] = {"en-es": str(tmp_path / "nowhere")}
    path = tmp_path / "wu.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    code, _, err = run_cli(["validate", str(path)], capsys)
    assert code == 2 and "bitexts[en-es]" in err and "not an aligned corpus" in err


def test_headline_table_puts_the_scale_free_measures_first():
    from xladjust.pipeline.tables import headline_table

    summary = {"inputs": {"bitexts": [{"name": "en-es"}]}, "checkpoints": {"vanilla": {"results": {"en-es": {
        "distances": {"metrics": {"mean_delta": 0.1, "share_delta_positive": 0.91, "ratio": 1.92}}}}}}}
    lines = headline_table(summary).splitlines()
    assert lines[0].split()[2:5] == ["share", "Δ>0", "d(w,u)/d(w,r)"]
    assert lines[2].split()[2:5] == ["0.910", "1.920", "0.100"] and lines[-1].startswith("primary:")


def test_the_wu_config_selects_on_rows_it_does_not_train_on(tmp_path, capsys):
    import yaml

    from xladjust.pipeline import landscape_finetune

    data = yaml.safe_load((REPO / "configs" / "wu2022-landscape.yaml").read_text(encoding="utf-8"))
    cfg = load_pipeline(REPO / "configs" / "wu2022-landscape.yaml")
    for bilingual in (False, True):
        ft = landscape_finetune(cfg, cfg.landscape, bilingual=bilingual, out=tmp_path / "ft")
        assert ft.dev is None and ft.dev_split and ft.dev_split_parallel
        assert all("test-" not in source for source in ft.train)
    data["landscape"]["dev"] = data["landscape"]["source_train"]  # the old config: select on the training file
    data["landscape"]["finetune"].pop("dev_split"), data["landscape"]["finetune"].pop("dev_split_parallel")
    path = tmp_path / "wu.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    code, _, err = run_cli(["validate", str(path)], capsys)
    assert code == 2 and "landscape.dev: " in err and "is a training file" in err


def test_a_variant_named_like_a_language_pair_collides_with_per_language_adjust(tmp_path):
    from xladjust.pipeline import LanguagePair, PipelineConfig

    pair = LanguagePair(tgt_lang="es", train={"src": str(tmp_path / "a"), "tgt": str(tmp_path / "b")})
    cfg = PipelineConfig(out=tmp_path / "runs", pairs=[pair], adjust_variants={"en-es": {"lr": 1e-4}},
                         adjust_per_language=True, probe=None)
    assert "adjust_variants: 'en-es' is also a language pair's name; with adjust_per_language both would " \
           "write adjust-en-es" in cfg.check()
    assert not any("adjust_variants" in p for p in PipelineConfig(out=tmp_path / "runs", pairs=[pair],
                                                                   adjust_variants={"en-es": {}}, probe=None).check())


def test_a_landscape_without_a_dev_set_is_a_config_problem(tmp_path, capsys):
    import yaml

    data = yaml.safe_load((REPO / "configs" / "wu2022-landscape.yaml").read_text(encoding="utf-8"))
    data["landscape"]["finetune"].pop("dev_split"), data["landscape"]["finetune"].pop("dev_split_parallel")
    path = tmp_path / "wu.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    code, _, err = run_cli(["validate", str(path)], capsys)
    assert code == 2 and "landscape: give dev (a file disjoint from the training files) or finetune.dev_split" in err


def _wu(tmp_path: Path, **landscape) -> Path:
    data = yaml.safe_load((REPO / "configs" / "wu2022-landscape.yaml").read_text(encoding="utf-8"))
    data["out"] = str(tmp_path / "runs")
    data["landscape"].update(landscape)
    path = tmp_path / "wu.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_landscape_seeds_plan_per_seed_stages_and_one_summary(tmp_path, capsys):
    from xladjust.pipeline import plan

    cfg = load_pipeline(REPO / "configs" / "wu2022-landscape.yaml")
    assert cfg.landscape.seeds == [1, 2, 3]
    stages = plan(cfg, progress=False)
    root = cfg.out / "landscape"
    expected = [(f"{kind} s{seed}", root / f"seed-{seed}" / folder) for seed in (1, 2, 3)
                for kind, folder in (("finetune monolingual", "monolingual"), ("finetune bilingual", "bilingual"),
                                     ("interpolate", "interpolate"), ("flatness", "flatness"))]
    assert [(s.name, s.directory) for s in stages] == [*expected, ("landscape summary", root / "summary")]
    assert stages[-1].after == ["interpolate s1", "interpolate s2", "interpolate s3"]
    assert "seed 2" in stages[4].summary and "(seed 2)" in stages[7].summary  # fine-tuning and flatness directions
    code, out, err = run_cli(["run", str(REPO / "configs" / "wu2022-landscape.yaml"), "--dry-run"], capsys)
    assert code == 0 and "plan valid: 13 stages" in out, err

    # no seeds: one seed, the pipeline's, as before; a seed's stages are keyed by that seed alone
    one = plan(load_pipeline(_wu(tmp_path, seeds=None)), progress=False)
    assert [s.name for s in one] == [n for n, _ in expected[:4]] + ["landscape summary"]
    three = plan(load_pipeline(_wu(tmp_path)), progress=False)
    assert [s.key for s in one[:4]] == [s.key for s in three[:4]]  # seed 1 is reused when seeds are added
    assert one[-1].key != three[-1].key  # the summary reruns
    assert len({s.key for s in three}) == len(three)


def test_landscape_seed_problems_are_config_problems(tmp_path, capsys):
    for landscape, message in (({"seeds": []}, "landscape.seeds: give at least one seed"),
                               ({"seeds": [1, 2, 1]}, "names a seed twice"),
                               ({"finetune": {"seed": 3, "dev_split": 0.2}}, "landscape.finetune.seed: the seeds come "
                                                                             "from landscape.seeds"),
                               ({"source_lang": "de"}, "landscape.source_lang: 'de' is not among the test languages")):
        code, _, err = run_cli(["validate", str(_wu(tmp_path, **landscape))], capsys)
        assert code == 2 and message in err, (landscape, err)
