"""The one registry shape: names listed without importing what they name, and an unknown
name is one line that lists the choices."""

from __future__ import annotations

import pytest

from xladjust.errors import ConfigError
from xladjust.lazy import load
from xladjust.registry import Entry, Registry


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


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="'a' is registered twice"):
        Registry("widget", [Entry("a", "m:a", "one"), Entry("a", "m:b", "two")])
