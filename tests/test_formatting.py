"""The one number formatter: missing values, integers, and the format spec."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xladjust.formatting import number


@pytest.mark.parametrize("missing", [None, math.nan, math.inf, -math.inf, np.float32("nan"), True])
def test_missing_values_print_the_missing_mark(missing):
    assert number(missing) == "–"
    assert number(missing, missing="-") == "-"


def test_integers_stay_counts_unless_asked():
    assert number(12) == "12" and number(np.int64(12)) == "12"
    assert number(12, ".3f", ints=False) == "12.000"


def test_the_spec_is_applied():
    assert number(0.123456) == "0.123"
    assert number(0.123456, ".4f") == "0.1235"
    assert number(0.1234, ".1%", ints=False) == "12.3%"
    assert number(np.float32(0.5), ".6g") == "0.5"
