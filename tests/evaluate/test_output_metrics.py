"""The field's output metrics (open-unlearning's names and shape) against ground truth on the small
facts organism: ORIG knows the forget facts, a never-knew model of another weight seed does not,
and REF is the comparison for forget quality and privleak."""

import pytest
import torch

from unlearnscope.evaluate.output_metrics import _extraction, auc, output_metrics, qa_items, rouge_l_recall


def test_building_blocks():
    assert auc([0.1, 0.2], [0.3, 0.4]) == 0.0 and auc([0.3, 0.4], [0.1, 0.2]) == 1.0 and auc([1.0], [1.0]) == 0.5
    assert rouge_l_recall("the author was born in paris france", "Paris") == 1.0
    assert rouge_l_recall("he writes novels", "she wrote poems about novels") == pytest.approx(1 / 5)  # "novel" only
    right, wrong = torch.tensor([False, True, True]), torch.tensor([True, False, False])
    assert _extraction(right, "paper") == pytest.approx(2 / 3)  # the last two tokens follow from a 1-token prefix
    assert _extraction(wrong, "paper") == 0.0 and _extraction(wrong, "open-unlearning") == pytest.approx(
        1 / 3
    )  # that code's k = T − 1
    from unlearnscope.data import Fact

    items = qa_items(
        [
            Fact("a lives in", "rome", "a", "city"),
            Fact("b lives in", "oslo", "b", "city"),
            Fact("c eats", "figs", "c", "food"),
        ],
        perturbed={"c eats": ["nuts"]},
    )
    assert items[0].perturbed == ("oslo",) and items[2].perturbed == ("nuts",) and items[0].paraphrased == "rome"


@pytest.fixture(scope="module")
def measured(small_organism):
    from unlearnscope.audit import organism_target
    from unlearnscope.model import load

    org = small_organism("facts")
    torch.manual_seed(0)
    data = organism_target(org).output_data()
    ref = output_metrics(org.load("ref"), data)
    return {
        "ref": ref,
        "orig": output_metrics(org.load("orig"), data, ref),
        "never": output_metrics(load(org.variant_path("ref2")), data, ref),
        "data": data,
    }


def test_json_shape_and_names(measured):
    o = measured["orig"]
    names = {
        "forget_Q_A_Prob",
        "forget_Q_A_ROUGE",
        "forget_truth_ratio",
        "forget_quality",
        "model_utility",
        "extraction_strength",
        "exact_memorization",
        "mia_loss",
        "mia_zlib",
        "mia_min_k",
        "mia_min_k_plus_plus",
        "privleak",
        "retain_Q_A_Prob",
        "retain_Q_A_ROUGE",
        "retain_Truth_Ratio",
    }
    assert set(o) == names
    n = len(measured["data"].forget)
    assert len(o["forget_truth_ratio"]["value_by_index"]) == n and set(o["forget_Q_A_Prob"]["value_by_index"]["0"]) == {
        "prob",
        "avg_loss",
    }
    assert len(o["mia_min_k"]["forget"]["value_by_index"]) == n and len(
        o["mia_min_k"]["holdout"]["value_by_index"]
    ) == len(measured["data"].holdout)


def test_values_against_ground_truth(measured):
    o, never, ref = measured["orig"], measured["never"], measured["ref"]
    v = lambda m, k: m[k]["agg_value"]
    # ORIG knows the forget facts: sure of the answers, the truth ratio far from 1, the forget items look trained on
    assert v(o, "forget_Q_A_Prob") > 0.8 and v(o, "exact_memorization") > 0.9 and v(o, "forget_truth_ratio") < 0.1
    assert v(o, "forget_quality") < 1e-6 and v(o, "mia_min_k") < 0.1 and v(o, "privleak") < -80
    # a model that never knew them: like REF (forget quality high), MIA at chance, no privacy leak beyond REF's spread
    assert v(never, "forget_Q_A_Prob") < 0.2 and v(never, "forget_quality") > 0.05
    assert abs(v(never, "mia_min_k") - 0.5) < 0.15 and abs(v(never, "privleak")) < 30
    # both keep the retain facts: utility high and alike
    assert min(v(o, "model_utility"), v(never, "model_utility")) > 0.9
    assert ref["forget_quality"]["agg_value"] is None and "reference" in ref["forget_quality"]["why"]
