"""Symmetrization heuristics on hand-made cases, their ordering, and atools agreement."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from helpers_align import needs_fast_align, real_atools, write_lines
from hypothesis import given, settings
from hypothesis import strategies as st

from xladjust.align.symmetrize import HEURISTICS, Heuristic, one_to_one, symmetrize
from xladjust.errors import ConfigError

# 5 source x 6 target words. Intersection {(0,0), (1,1)}; (2,0) touches (1,1) diagonally;
# (0,1) joins two aligned words; (4,4) is isolated with both words free; (0,5) is isolated
# with its source word aligned. Worked out by hand:
FORWARD = {(0, 0), (1, 1), (0, 1), (4, 4)}
REVERSE = {(0, 0), (1, 1), (2, 0), (0, 5)}
EXPECTED = {
    "intersect": [(0, 0), (1, 1)],
    "union": [(0, 0), (0, 1), (0, 5), (1, 1), (2, 0), (4, 4)],
    # grow: (0,1) both words aligned -> no; (0,5) no aligned neighbour; (2,0) yes; (4,4) no.
    "grow-diag": [(0, 0), (1, 1), (2, 0)],
    # final: (4,4) has an unaligned word -> yes; (0,5) has an unaligned target word -> yes.
    "grow-diag-final": [(0, 0), (0, 5), (1, 1), (2, 0), (4, 4)],
    # final-and: (4,4) both words unaligned -> yes; (0,5) source word aligned -> no.
    "grow-diag-final-and": [(0, 0), (1, 1), (2, 0), (4, 4)],
}


@pytest.mark.parametrize("heuristic", list(HEURISTICS))
def test_each_heuristic_on_a_hand_made_case(heuristic):
    assert symmetrize(FORWARD, REVERSE, heuristic) == EXPECTED[heuristic]


def test_grow_diag_sweeps_again_until_nothing_changes():
    # (1,1) comes first in (i, j) order but only touches (2,2), which the same sweep adds
    # later; a second sweep adds it.
    assert symmetrize({(3, 3), (1, 1)}, {(3, 3), (2, 2)}, "grow-diag") == [(1, 1), (2, 2), (3, 3)]


def test_grow_diag_points_added_earlier_in_a_sweep_count():
    # (1,2) aligns target 2 and (2,1) aligns source 2 before (2,2) is reached: (2,2) then
    # joins two aligned words and is not added, although it is in the union.
    out = symmetrize({(1, 1), (1, 2), (2, 2)}, {(1, 1), (2, 1)}, "grow-diag")
    assert out == [(1, 1), (1, 2), (2, 1)]


def test_final_adds_forward_links_before_reverse_links():
    # forward (0,0) and reverse (0,1) compete for source word 0 under final-and: forward wins.
    assert symmetrize({(0, 0)}, {(0, 1)}, "grow-diag-final-and") == [(0, 0)]
    assert symmetrize({(0, 1)}, {(0, 0)}, "grow-diag-final-and") == [(0, 1)]


def test_empty_inputs():
    for heuristic in HEURISTICS:
        assert symmetrize([], [], heuristic) == []
    assert symmetrize([(0, 0)], [], "intersect") == []
    assert symmetrize([(0, 0)], [], "grow-diag-final") == [(0, 0)]


def test_unknown_heuristic_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown symmetrization heuristic 'grow'.*grow-diag-final-and"):
        symmetrize([], [], "grow")
    assert Heuristic.parse("union") is Heuristic.UNION


def test_one_to_one_keeps_links_whose_words_have_one_link_each():
    links = [(0, 0), (1, 1), (1, 2), (3, 2), (4, 4)]
    assert one_to_one(links) == [(0, 0), (4, 4)]
    assert one_to_one([]) == []


links_strategy = st.sets(st.tuples(st.integers(0, 7), st.integers(0, 7)), max_size=20)


@settings(max_examples=200, deadline=None)
@given(links_strategy, links_strategy)
def test_heuristics_are_nested(forward, reverse):
    inter = set(symmetrize(forward, reverse, "intersect"))
    gd = set(symmetrize(forward, reverse, "grow-diag"))
    gdfa = set(symmetrize(forward, reverse, "grow-diag-final-and"))
    gdf = set(symmetrize(forward, reverse, "grow-diag-final"))
    uni = set(symmetrize(forward, reverse, "union"))
    # final-and is not always inside final: the final passes block different links.
    assert inter <= gd <= gdfa <= uni
    assert gd <= gdf <= uni
    assert uni == forward | reverse


@needs_fast_align
def test_identical_to_real_atools_on_random_alignments(tmp_path):
    """The built-in heuristics give exactly atools' output on 1,500 random sentence pairs."""
    atools = real_atools()
    if atools is None:
        pytest.skip("atools was not found beside fast_align")
    rng = np.random.default_rng(7)
    fwd_rows, rev_rows = [], []
    for _ in range(1500):
        n, m = rng.integers(1, 14, size=2)
        fwd_rows.append({(int(rng.integers(n)), int(j)) for j in range(m) if rng.random() < 0.85})
        rev_rows.append({(int(i), int(rng.integers(m))) for i in range(n) if rng.random() < 0.85})
    fwd = write_lines(tmp_path / "fwd", [" ".join(f"{i}-{j}" for i, j in sorted(r)) for r in fwd_rows])
    rev = write_lines(tmp_path / "rev", [" ".join(f"{i}-{j}" for i, j in sorted(r)) for r in rev_rows])
    for heuristic in HEURISTICS:
        out = subprocess.run([str(atools), "-i", str(fwd), "-j", str(rev), "-c", heuristic],
                             capture_output=True, text=True, check=True).stdout.splitlines()
        ours = [" ".join(f"{i}-{j}" for i, j in symmetrize(f, r, heuristic)) for f, r in zip(fwd_rows, rev_rows, strict=True)]
        assert [line.strip() for line in out] == ours, heuristic
