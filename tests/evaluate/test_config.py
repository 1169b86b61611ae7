"""`VerifyConfig`: names resolve through the registry, settings are per readout, old configs read."""

import pytest

from unlearnscope.errors import UnlearnscopeError
from unlearnscope.evaluate import VerifyConfig
from unlearnscope.evaluate.attacks.relearn import RelearnConfig
from unlearnscope.evaluate.rki import VerdictConfig


def test_defaults_aliases_and_per_readout_settings():
    cfg = VerifyConfig(readouts=("lens", "probe"), attacks=("relearn",))
    asked = cfg.asked()
    assert asked[:3] == ("recall", "retain_recall", "locality")  # behaviour and locality always run
    assert "logit_lens" in asked and "probe" in asked and "causal_depth" not in asked
    assert cfg.runs("lens") and not cfg.runs("quant")
    assert cfg.setting("relearn") == RelearnConfig()  # the readout's defaults
    tuned = cfg.configure("relearn", steps=7)
    assert tuned.setting("relearn").steps == 7 and cfg.setting("relearn").steps == RelearnConfig().steps
    assert tuned.to_dict()["settings"]["relearn"]["steps"] == 7 and tuned.to_dict()["readouts"] == [
        "logit_lens",
        "probe",
    ]
    with pytest.raises(UnlearnscopeError, match=r"settings of 'relearn'.*fields: \["):
        cfg.configure("relearn", no_such_field=1)
    with pytest.raises(UnlearnscopeError, match="unknown readouts"):
        VerifyConfig(readouts=("relearn",)).validate()  # an attack is not a readout
    with pytest.raises(UnlearnscopeError, match="unknown attacks"):
        VerifyConfig(attacks=("lens",)).validate()
    with pytest.raises(UnlearnscopeError, match=r"settings\['relearn'\] must be a RelearnConfig"):
        VerifyConfig(settings={"relearn": {"steps": 3}}).validate()


def test_round_trip_and_old_keys():
    cfg = VerifyConfig(attacks=("relearn", "incontext"), rules=VerdictConfig(margin=0.2), bos="<s>")
    cfg = cfg.configure("incontext", k=(1, 2))
    back = VerifyConfig.from_dict(cfg.to_dict())
    assert back.to_dict() == cfg.to_dict()
    old = VerifyConfig.from_dict(
        {"probe_seeds": [0, 1], "incontext_k": [4], "depth_scope": "mlp", "verdict": {"margin": 0.3}, "lens": {}}
    )
    assert old.setting("probe").seeds == (0, 1) and old.setting("incontext").k == (4,)
    assert old.setting("causal_depth").scope == "mlp" and old.rules.margin == 0.3
    with pytest.raises(UnlearnscopeError, match=r"verify: unknown key 'probes_seeds'; known: readouts"):
        VerifyConfig.from_dict({"probes_seeds": [0]})
    with pytest.raises(UnlearnscopeError, match=r"verify.relearn: unknown keys \['stepz'\]"):
        VerifyConfig.from_dict({"relearn": {"stepz": 3}})
    with pytest.raises(UnlearnscopeError, match=r"verify.rules: unknown keys"):
        VerifyConfig.from_dict({"rules": {"margn": 0.1}})
