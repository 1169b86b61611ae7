"""The `unlearnscope` command: inspect's JSON contract, exit codes, a fast --help."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from unlearnscope.cli import app

runner = CliRunner()


def test_inspect_json_contract():
    res = runner.invoke(app, ["inspect", "tiny:mixtral", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)  # stdout is exactly one JSON object
    for key in ("architecture", "n_layers", "d_model", "d_mlp", "n_experts", "top_k", "hook_names"):
        assert key in info
    assert info["n_experts"] == 4 and info["top_k"] == 2 and info["n_layers"] == 3
    assert "blocks.2.moe.experts.3.hook_out" in info["hook_names"]


def test_inspect_local_directory_and_dense_model(tiny_dirs):
    res = runner.invoke(app, ["inspect", str(tiny_dirs("gpt2")), "--json"])
    info = json.loads(res.stdout)  # stdout is exactly one JSON object
    assert info["n_experts"] == 0 and info["top_k"] == 0 and info["architecture"] == "GPT2LMHeadModel"
    res = runner.invoke(app, ["inspect", str(tiny_dirs("gpt2"))])
    assert res.exit_code == 0 and "blocks.0.mlp.hook_post" in res.stdout and "transformer.h.0.mlp.c_proj" in res.stdout


def test_bad_model_exits_2(tmp_path):
    res = runner.invoke(app, ["inspect", str(tmp_path)])
    assert res.exit_code == 2 and "config.json" in res.output


def test_help_does_not_import_torch():
    code = "import sys; from unlearnscope.cli import app; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
