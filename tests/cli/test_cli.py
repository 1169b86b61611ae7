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
    code = (
        "import sys\nfrom unlearnscope.cli import app\nsys.argv = ['unlearnscope', '--help']\n"
        "try:\n    app()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "assert 'torch' not in sys.modules, 'torch imported'\nprint('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert "Commands" in out.stdout and out.stdout.strip().endswith("ok")


def test_ablate_writes_a_patch_or_an_edited_model(tiny_dirs, tmp_path):
    import torch

    import unlearnscope as us
    from unlearnscope.model import EditPatch

    src = str(tiny_dirs("llama"))
    res = runner.invoke(
        app,
        [
            "ablate",
            "--model",
            src,
            "--components",
            "blocks.1.mlp.value:[3,7]",
            "--mode",
            "zero",
            "--out",
            str(tmp_path / "patch"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["n_params"] == 2 * 64 and (tmp_path / "patch" / "components.json").is_file()
    s = us.load(src)
    ed = EditPatch.load(tmp_path / "patch").apply(s)
    assert torch.count_nonzero(s.anatomy.values(1)[[3, 7]]) == 0
    ed.undo()
    res = runner.invoke(
        app,
        [
            "ablate",
            "--model",
            src,
            "--components",
            "blocks.1.mlp.value:5",
            "--mode",
            "noise",
            "--sigma",
            "0.5",
            "--out",
            str(tmp_path / "model"),
            "--export-model",
        ],
    )
    assert res.exit_code == 0, res.output
    edited = us.load(tmp_path / "model")
    assert not torch.equal(edited.anatomy.values(1)[5], s.anatomy.values(1)[5])
    assert torch.equal(edited.anatomy.values(1)[4], s.anatomy.values(1)[4])
    bad = runner.invoke(app, ["ablate", "--model", src, "--components", "blocks.7.mlp", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "layers" in bad.output


def test_unlearn_cli_writes_patch_and_summary(tiny_dirs, tmp_path):
    import torch

    import unlearnscope as us
    from unlearnscope.model import EditPatch

    src = str(tiny_dirs("gpt2"))
    (tmp_path / "forget.txt").write_text("The capital of France is Paris.\nBob plays tennis on Sundays.\n")
    (tmp_path / "retain.json").write_text(
        json.dumps(["The sky is blue and the grass is green.", {"prompt": "12 plus 7 equals", "answer": "19"}])
    )
    res = runner.invoke(
        app,
        [
            "unlearn",
            "--model",
            src,
            "--forget",
            str(tmp_path / "forget.txt"),
            "--retain",
            str(tmp_path / "retain.json"),
            "--method",
            "graddiff",
            "--components",
            "blocks.1.mlp",
            "--steps",
            "3",
            "--lr",
            "1e-3",
            "--out",
            str(tmp_path / "run"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["method"] == "graddiff" and summary["steps"] == 3 and len(summary["forget_loss_curve"]) == 3
    assert summary["n_params_trained"] == sum(p.numel() for p in us.load(src).model.transformer.h[1].mlp.parameters())
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["patch_path"] == summary["patch_path"]
    s = us.load(src)
    ed = EditPatch.load(summary["patch_path"]).apply(s)
    assert not torch.equal(
        s.model.transformer.h[1].mlp.c_fc.weight, us.load(src).model.transformer.h[1].mlp.c_fc.weight
    )
    ed.undo()
    bad = runner.invoke(app, ["unlearn", "--model", src, "--forget", "organism:forget", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "organism:NAME" in bad.output


def test_the_whole_cli_and_global_device_dtype():
    res = runner.invoke(app, ["--help"])
    for cmd in ("organism", "inspect", "localize", "ablate", "unlearn", "probe", "attack", "audit", "report"):
        assert cmd in res.output
    res = runner.invoke(app, ["--device", "cpu", "--dtype", "bfloat16", "inspect", "tiny:gpt2", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["dtype"] == "bfloat16"
    res = runner.invoke(app, ["--dtype", "float64x", "inspect", "tiny:gpt2"])
    assert res.exit_code == 2 and "float64x" in res.output
