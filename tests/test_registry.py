"""Every pluggable family is one :class:`~xladjust.registry.Registry`: names listed without
importing what they name, each entry loads, and an unknown name is one line that lists
the choices."""

from __future__ import annotations

import pytest

from xladjust.adjust.objective_options import OBJECTIVES
from xladjust.align.config import ALIGNERS
from xladjust.align.symmetrize import HEURISTICS, Heuristic
from xladjust.errors import ConfigError
from xladjust.lazy import load
from xladjust.probes.registry import PROBES
from xladjust.registry import Entry, Registry
from xladjust.tasks.registry import TASKS, get_task

FAMILIES = {"aligner": ALIGNERS, "symmetrization heuristic": HEURISTICS, "objective": OBJECTIVES,
            "probe": PROBES, "task": TASKS}


def test_an_entry_is_listed_without_importing_its_target():
    registry = Registry("widget", [Entry("a", "xladjust_no_such_module:thing", "the first"),
                                   Entry("b", "xladjust.lazy:load", "the second")])
    assert registry.names() == list(registry) == ["a", "b"] and len(registry) == 2
    assert "a" in registry and "c" not in registry
    assert registry.entry("a").summary == "the first"
    assert [name for name, _ in registry.items()] == ["a", "b"]
    with pytest.raises(ModuleNotFoundError):
        registry.get("a")
    assert registry.get("b") is load


def test_an_unknown_name_is_one_line_listing_the_choices():
    registry = Registry("widget", [Entry("a", "m:a", "one"), Entry("b", "m:b", "two")])
    for call in (registry.entry, registry.get):
        with pytest.raises(ConfigError) as caught:
            call("c")
        assert str(caught.value) == "unknown widget 'c'; choose one of: a, b"
    with pytest.raises(ConfigError, match="unknown widget \\['a'\\]"):  # a list from a config file
        registry.entry(["a"])


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="'a' is registered twice"):
        Registry("widget", [Entry("a", "m:a", "one"), Entry("a", "m:b", "two")])


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_is_a_registry_whose_entries_load(family):
    registry = FAMILIES[family]
    assert isinstance(registry, Registry) and registry.family == family and len(registry) >= 2
    for name, entry in registry.items():
        assert entry.name == name and entry.summary and "\n" not in entry.summary
        loaded = registry.get(name)
        assert loaded is not None
        if hasattr(loaded, "name"):  # aligner classes and task objects carry their registered name
            assert loaded.name == name


def test_the_registries_keep_their_order_and_agree_with_their_enums():
    assert list(ALIGNERS) == ["fast_align", "eflomal", "embedding", "combined"]
    assert list(HEURISTICS) == [h.value for h in Heuristic]
    assert list(OBJECTIVES) == ["l2", "contrastive"]
    assert list(PROBES) == ["distances", "word-retrieval", "sentence-retrieval"]
    assert list(TASKS) == ["nli", "ner", "qa"]


def test_a_task_is_one_object():
    assert get_task("nli") is get_task("nli") is TASKS.get("nli")
    with pytest.raises(ConfigError, match="unknown task 'pos'; choose one of: nli, ner, qa"):
        get_task("pos")
