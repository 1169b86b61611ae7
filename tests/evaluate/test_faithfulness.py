"""Faithfulness and robustness statistics against hand computation."""

import json

import pytest

from unlearnscope.errors import UnlearnscopeError
from unlearnscope.evaluate.faithfulness import FaithfulnessTable, auc, auc_ci, relearn_robustness, stability


def test_auc_by_hand():
    assert auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auc([0.1], [0.9]) == 0.0
    # pairs: (0.5 vs 0.5) tie = 0.5, (0.5 vs 0.1) = 1, (0.3 vs 0.5) = 0, (0.3 vs 0.1) = 1 -> 2.5 / 4
    assert auc([0.5, 0.3], [0.5, 0.1]) == pytest.approx(0.625)
    with pytest.raises(UnlearnscopeError, match="never knew"):
        auc([], [0.1])


def test_auc_ci_resamples_models():
    point, ci = auc_ci([0.9, 0.8, 0.7], [0.1, 0.2, 0.3], n_boot=500)
    assert point == 1.0 and ci == [1.0, 1.0]  # perfect separation survives every resample
    point, ci = auc_ci([0.9, 0.15, 0.7], [0.1, 0.2, 0.3], n_boot=500)
    assert point == pytest.approx(7 / 9) and ci[0] < point < ci[1] + 1e-9 and ci[1] == 1.0


def test_stability_and_relearn_robustness_by_hand():
    assert stability([1.0, 0.0, 0.5], [1.0, 0.0, 0.25]) == pytest.approx([1.0, 1.0, 1 - 0.25 / 0.75])
    assert relearn_robustness(0.2, 0.2) == 1.0 and relearn_robustness(0.0, 0.0) == 1.0
    assert relearn_robustness(0.3, 0.1) == pytest.approx(1 - 0.2 / 0.4)


def test_table_round_trip_floor_and_corruption(tmp_path):
    t = FaithfulnessTable(
        {"recall": {"auc": 1.0, "ci": [1.0, 1.0]}, "causal_depth": {"auc": 0.44, "ci": [0.0, 1.0]}}, "metaeval of facts"
    )
    path = t.save(tmp_path / "t" / "faithfulness.json")
    back = FaithfulnessTable.load(path)
    assert back.to_dict() == t.to_dict()
    assert list(back.unfaithful()) == ["causal_depth"] and "0.44" in back.unfaithful()["causal_depth"]
    assert back.unfaithful(floor=0.3) == {}
    assert back.annotate("recall")["status"] == "faithful" and back.annotate("causal_depth")["status"] == "below floor"
    assert back.annotate("format:mc") == {"status": "not meta-evaluated", "auc": None, "ci": None}
    path.write_text(json.dumps({"readouts": 3}))
    with pytest.raises(UnlearnscopeError, match="run `unlearnscope metaeval` again"):
        FaithfulnessTable.load(path)
