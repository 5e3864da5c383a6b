"""Claims as data, verdicts by rule, on hand-made records and a hand-made run folder."""

import json
import math
import re

import pytest

from xladjust.claims import ClaimsFile, claim_verdict, judge, load_claims
from xladjust.errors import ConfigError
from xladjust.io import write_json_atomic
from xladjust.report.verdicts import write_verdicts

CLAIMS_FILE = "configs/claims/efimov2022.yaml"


def claim(id, direction="increase", languages=("es",), family="f", margin=None, require="all", source="probe",
          measure="share_delta_positive", task=None):
    data = {"id": id, "text": f"claim {id}", "source": source, "measure": measure, "before": "vanilla",
            "after": "adjusted", "direction": direction, "family": family, "languages": list(languages),
            "require": require}
    if margin is not None:
        data["margin"] = margin
    if task is not None:
        data["task"] = task
    return data


def claims_file(tmp_path, *claims, name="claims.yaml"):
    import yaml

    path = tmp_path / name
    path.write_text(yaml.safe_dump({"paper": "Test 2022", "claims": list(claims)}), encoding="utf-8")
    return path


def rec(estimate, se, p=None, mde=None):
    from scipy.stats import norm

    if p is None:
        p = 2 * norm.sf(abs(estimate) / se)
    return {"estimate": estimate, "ci_low": estimate - 1.96 * se, "ci_high": estimate + 1.96 * se, "p": p,
            "se": se, "mde": 2.8 * se if mde is None else mde}


def judged(tmp_path, claims, records):
    cf = load_claims(claims_file(tmp_path, *claims))
    return {c["id"]: c for c in judge(cf, records)}


def test_directional_verdicts(tmp_path):
    out = judged(tmp_path, [claim("up"), claim("down", family="g"), claim("flat", family="h")],
                 {("up", "es"): rec(0.05, 0.01), ("down", "es"): rec(-0.05, 0.01), ("flat", "es"): rec(0.01, 0.01)})
    assert out["up"]["verdict"] == "supported"
    assert out["down"]["verdict"] == "contradicted"  # significant, the other way
    assert out["flat"]["verdict"] == "inconclusive"  # no difference found is not a verdict
    t = out["up"]["tests"][0]
    assert t["estimate"] == 0.05 and t["p_corrected"] == pytest.approx(t["p"]) and t["mde"] == pytest.approx(0.028)


def test_a_margin_lets_a_directional_claim_be_contradicted_by_equivalence(tmp_path):
    out = judged(tmp_path, [claim("up", margin=0.05)], {("up", "es"): rec(0.001, 0.005)})
    assert out["up"]["verdict"] == "contradicted" and out["up"]["tests"][0]["tost"]["outcome"] == "equivalent"


def test_holm_within_a_family_changes_the_verdict(tmp_path):
    three = claim("three", languages=("es", "ru", "vi"))
    records = {("three", "es"): rec(0.05, 0.01, p=0.02), ("three", "ru"): rec(0.05, 0.01, p=0.03),
               ("three", "vi"): rec(0.05, 0.01, p=0.04)}
    out = judged(tmp_path, [three], records)
    assert [t["p_corrected"] for t in out["three"]["tests"]] == pytest.approx([0.06, 0.06, 0.06])
    assert out["three"]["verdict"] == "inconclusive"  # each p < 0.05 alone, none after Holm
    # the same p-values in separate families are not corrected together
    split = [claim(f"c{k}", languages=(lang,), family=lang) for k, lang in enumerate(("es", "ru", "vi"))]
    out = judged(tmp_path, split, {(f"c{k}", lang): records[("three", lang)]
                                   for k, lang in enumerate(("es", "ru", "vi"))})
    assert all(c["verdict"] == "supported" for c in out.values())


def test_no_change_claims_are_judged_by_tost(tmp_path):
    claims = [claim(x, direction="no change", margin=0.01, family=x) for x in ("same", "moved", "unsure")]
    out = judged(tmp_path, claims, {("same", "es"): rec(0.001, 0.002), ("moved", "es"): rec(0.05, 0.005),
                                    ("unsure", "es"): rec(0.0, 0.02)})
    assert out["same"]["verdict"] == "supported"
    assert out["same"]["tests"][0]["p_corrected"] == out["same"]["tests"][0]["tost"]["p"] < 0.05
    assert out["moved"]["verdict"] == "contradicted"
    assert out["unsure"]["verdict"] == "inconclusive"  # no difference found, but none shown to be small


def test_claim_verdict_over_languages():
    assert claim_verdict("all", ["supported"] * 4) == "supported"
    assert claim_verdict("all", ["supported", "supported", "inconclusive", "supported"]) == "inconclusive"
    assert claim_verdict("all", ["supported", "contradicted", "supported", "supported"]) == "contradicted"
    assert claim_verdict("at least 2", ["supported", "inconclusive", "supported", "contradicted"]) == "supported"
    assert claim_verdict("at least 2", ["supported", "inconclusive", "inconclusive", "contradicted"]) == "inconclusive"
    assert claim_verdict("at least 2", ["contradicted", "contradicted", "supported", "contradicted"]) == "contradicted"
    with pytest.raises(ValueError, match="at least K"):
        claim_verdict("most", ["supported"])


def test_missing_results_are_inconclusive(tmp_path):
    out = judged(tmp_path, [claim("gone", languages=("es", "ru"))], {("gone", "es"): rec(0.05, 0.01)})
    assert out["gone"]["verdict"] == "inconclusive"
    assert out["gone"]["tests"][1]["note"] == "no results" and math.isnan(out["gone"]["tests"][1]["p_corrected"])


@pytest.mark.parametrize("change, message", [
    ({"direction": "no change"}, "a 'no change' claim needs a 'margin'"),
    ({"require": "most"}, "require must be 'all' or 'at least K'"),
    ({"require": "at least 3"}, "only 1 language(s) listed"),
    ({"source": "transfer", "task": "nli"}, "read on measure 'score'"),
    ({"source": "probe-after"}, "needs 'task'"),
    ({"measure": "p_at_1"}, "measure 'p_at_1' is not one of"),
    ({"direction": "better"}, "'better' is not one of 'increase', 'decrease', 'no change'"),
    ({"margin": -1.0}, "margin must be positive"),
])
def test_bad_claims_are_reported_with_the_file(tmp_path, change, message):
    path = claims_file(tmp_path, {**claim("x"), **change})
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        load_claims(path)
    assert str(path) in str(info.value)


def test_duplicate_claim_ids_are_an_error(tmp_path):
    with pytest.raises(ConfigError, match="claim id 'x' appears twice"):
        load_claims(claims_file(tmp_path, claim("x"), claim("x")))


def test_the_committed_claims_cover_the_abstract():
    claims = load_claims(CLAIMS_FILE)
    assert isinstance(claims, ClaimsFile)
    tasks = {(c.source.value, c.task) for c in claims.claims}
    assert {("probe", None), ("probe-after", "nli"), ("probe-after", "ner"), ("transfer", "nli"),
            ("transfer", "ner"), ("transfer", "qa")} <= tasks
    qa = next(c for c in claims.claims if c.task == "qa")
    assert qa.direction.value == "no change" and qa.margin > 0  # "never improves": equivalence, not absence


def test_write_verdicts_reads_a_study_folder(tmp_path):
    run = tmp_path / "study"
    measure = {"before": 0.90, "after": 0.93, "change": 0.03, "ci_low": 0.02, "ci_high": 0.04, "p": 0.0,
               "se": 0.005, "mde": 0.014}
    write_json_atomic(run / "probe" / "summary.json", {"comparisons": {"adjusted-vs-vanilla": {
        "en-es": {"measures": {"unit": "sentence", "share_delta_positive": measure}}}}})
    seed_level = {"mean_difference": 0.004, "hier_ci_low": -0.01, "hier_ci_high": 0.018, "hier_p": 0.6,
                  "hier_se": 0.007, "mde": 0.0196, "seeds": [1, 2, 3]}
    write_json_atomic(run / "transfer-nli" / "comparison.json", {
        "task": "nli", "metric": "accuracy", "seeds": [1, 2, 3], "baseline_model": "vanilla",
        "languages": {"es": {"comparisons": {"adjusted - vanilla": {"seed_level": seed_level}},
                             "scores": {"vanilla": {"mean": 0.61}, "adjusted": {"mean": 0.62}}}}})
    path = claims_file(tmp_path, claim("geo"), claim("nli", source="transfer", task="nli", measure="score",
                                                     family="t"),
                       claim("qa", source="transfer", task="qa", measure="score", family="t",
                             direction="no change", margin=0.01))
    table = write_verdicts(run, path, tmp_path / "report")
    verdicts = json.loads((tmp_path / "report" / "verdicts.json").read_text(encoding="utf-8"))
    by_id = {c["id"]: c for c in verdicts["claims"]}
    assert by_id["geo"]["verdict"] == "supported" and by_id["geo"]["tests"][0]["estimate"] == 0.03
    nli = by_id["nli"]
    assert nli["verdict"] == "inconclusive" and nli["tests"][0]["mde"] == 0.0196
    assert nli["tests"][0]["p_corrected"] == pytest.approx(0.6)  # alone in its family (qa has no results)
    assert any("only 3 fine-tuning seed(s)" in w for w in nli["warnings"])
    assert any("adjusted: only 1 adjustment seed(s)" in w for w in by_id["geo"]["warnings"])
    assert by_id["qa"]["verdict"] == "inconclusive" and "not tested" in by_id["qa"]["warnings"][0]
    assert verdicts["claims_sha256"] == table["claims_sha256"] and len(verdicts["claims_sha256"]) == 64
    assert verdicts["tasks"]["nli"]["mean_scores"]["es"] == {"vanilla": 0.61, "adjusted": 0.62}
    assert verdicts["tasks"]["nli"]["seeds"] == [1, 2, 3]
    md = (tmp_path / "report" / "verdicts.md").read_text(encoding="utf-8")
    assert "| **geo**: claim geo | **supported** (all)" in md
    assert "+0.004 | [-0.010, +0.018] | 0.600 | 0.020 | inconclusive |" in md
    assert "Warnings:" in md and "not tested" in md
