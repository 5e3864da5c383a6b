"""Typed config building and atomic writes."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest

from xladjust.config import Renamed, build_config, config_to_dict, load_yaml, validate_file
from xladjust.errors import ConfigError, InputError
from xladjust.io import (
    atomic_dir,
    atomic_path,
    is_complete,
    mark_complete,
    read_json_object,
    sha256_json,
)


class Color(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Inner:
    size: int = 1


@dataclass(frozen=True)
class Example:
    name: str
    color: Color = Color.RED
    rate: float = 0.1
    layers: list[int] = field(default_factory=lambda: [12])
    path: Path | None = None
    inner: Inner = field(default_factory=Inner)

    def check(self) -> list[str]:
        return ["rate must be positive"] if self.rate <= 0 else []


def test_build_config_converts_types():
    cfg = build_config(Example, {"name": "x", "color": "blue", "rate": 1, "path": "a/b", "inner": {"size": 3}})
    assert cfg.color is Color.BLUE and cfg.rate == 1.0 and cfg.path == Path("a/b") and cfg.inner.size == 3
    assert config_to_dict(cfg)["color"] == "blue"


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as exc:
        build_config(Example, {"colour": "red", "color": "green", "rate": "fast", "layers": [1, "x"]})
    problems = exc.value.problems
    assert len(problems) == 5
    joined = " ".join(problems)
    for fragment in ("unknown key 'colour'", "'green' is not one of", "expected a number",
                     "layers[1]", "missing required key 'name'"):
        assert fragment in joined


def test_cross_field_check_runs_after_types():
    with pytest.raises(ConfigError, match="rate must be positive"):
        build_config(Example, {"name": "x", "rate": -1})


@dataclass(frozen=True)
class RenamedInner:
    RENAMED_KEYS: ClassVar[dict[str, str | Renamed]] = {"count": "size"}

    size: int = 1


@dataclass(frozen=True)
class WithRenamedKeys:
    RENAMED_KEYS: ClassVar[dict[str, str | Renamed]] = {
        "bootstrap": "resamples", "cpu": Renamed("device", {True: "cpu", False: "auto"})}

    resamples: int = 1000
    device: str = "auto"
    inner: RenamedInner = field(default_factory=RenamedInner)


def test_an_old_key_reads_as_its_new_name_with_one_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="xladjust.config"):
        cfg = build_config(WithRenamedKeys, {"bootstrap": 50, "cpu": True, "inner": {"count": 3}}, where="old.yaml")
        build_config(WithRenamedKeys, {"bootstrap": 60}, where="old.yaml")  # logged once per file and key
    assert cfg == WithRenamedKeys(resamples=50, device="cpu", inner=RenamedInner(size=3))
    assert [r.getMessage() for r in caplog.records] == [
        "old.yaml: config key 'bootstrap' is deprecated and will be removed in the next release; use 'resamples'",
        "old.yaml: config key 'cpu' is deprecated and will be removed in the next release; use 'device: cpu'",
        "old.yaml.inner: config key 'count' is deprecated and will be removed in the next release; use 'size'"]
    assert config_to_dict(cfg) == {"resamples": 50, "device": "cpu", "inner": {"size": 3}}  # records say the new word
    assert build_config(WithRenamedKeys, {"cpu": False}, where="b").device == "auto"


def test_an_old_key_beside_its_new_one_or_with_an_unknown_value_is_a_problem():
    with pytest.raises(ConfigError) as exc:
        build_config(WithRenamedKeys, {"bootstrap": 50, "resamples": 60, "cpu": "yes"}, where="c")
    assert exc.value.problems == [
        "c: 'bootstrap' is the old name of 'resamples'; give only 'resamples'",
        "c.cpu: 'yes' is not one of True, False; write 'device' instead"]


def test_yaml_errors_name_the_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\nb: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_yaml(bad)
    (tmp_path / "list.yaml").write_text("- 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(tmp_path / "none.yaml")
    (tmp_path / "nokind.yaml").write_text("a: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no 'kind:' key"):
        validate_file(tmp_path / "nokind.yaml")


def test_atomic_path_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


def test_atomic_dir_replaces_only_when_complete(tmp_path):
    target = tmp_path / "run"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
        mark_complete(tmp)
    assert is_complete(target)
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a").write_text("2")
        raise RuntimeError("interrupted")
    assert (target / "a").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_read_json_object_names_the_file_when_it_holds_no_object(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text('{"kind": "probe"}', encoding="utf-8")
    assert read_json_object(path, "the run's summary") == {"kind": "probe"}
    for content, problem in ((b"[1, 2]", "holds no JSON object"), (b'{"kind": ', "is not valid JSON"),
                             (b'{"k": "\xff"}', "is not valid JSON")):
        path.write_bytes(content)
        with pytest.raises(InputError) as caught:
            read_json_object(path, "the run's summary")
        message = str(caught.value)
        assert message.startswith(f"the run's summary {path} {problem}") and "\n" not in message


def test_sha256_json_is_order_independent():
    assert sha256_json({"a": 1, "b": 2}) == sha256_json({"b": 2, "a": 1})


def test_parse_list_skips_blanks_and_names_the_option_when_an_item_is_bad():
    from xladjust.config import parse_list
    from xladjust.errors import InputError

    assert parse_list("1, 2,,3", int, "--seeds", "1,2,3") == [1, 2, 3]
    with pytest.raises(InputError, match=r"bad --seeds '1,x'; use a comma-separated list like 1,2,3"):
        parse_list("1,x", int, "--seeds", "1,2,3")
