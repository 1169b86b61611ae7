"""The capture benchmark runs end to end in smoke mode (no timing assertions: speed is checked by
ratios in bench/, never by timed tests)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_capture_bench_smoke(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_capture.py"), "--smoke", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    results = json.loads(next(tmp_path.glob("*/capture_smoke.json")).read_text())
    arms = results["arms"]
    assert {"hf_plain", "ours_20", "tl_20", "nnsight_20"} <= set(arms)
    assert all(v["median_ms"] > 0 for v in arms.values())


def test_capture_and_memory_benches_run_without_the_peers(tmp_path):
    """The GPU image has neither TransformerLens nor nnsight: their arms are skipped and named."""
    env = {**os.environ, "UNLEARNSCOPE_BENCH_WITHOUT": "transformer_lens,nnsight"}
    for bench in ("bench_capture.py", "bench_memory.py"):
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / bench), "--smoke", "--out", str(tmp_path)],
            check=True,
            capture_output=True,
            env=env,
        )
    capture = json.loads(next(tmp_path.glob("*/capture_smoke.json")).read_text())
    assert set(capture["arms"]) == {"hf_plain", "ours_1", "ours_20", "ours_all"} and capture["peers_missing"] == [
        "transformer_lens",
        "nnsight",
    ]
    assert set(capture["ratios"]) == {"ours_20_over_hf"} and "not measured" in capture["setup"]
    memory = json.loads(next(tmp_path.glob("*/memory_smoke.json")).read_text())
    assert set(memory["arms"]) == {"plain", "ours_1"} and set(memory["ratios"]) == {"ours_1_over_plain"}


def test_unlearn_bench_smoke(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_unlearn.py"), "--smoke", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    results = json.loads(next(tmp_path.glob("*/unlearn_step_smoke.json")).read_text())
    assert {"unmasked", "masked", "masked_small"} <= set(results["arms"])
    assert results["trained_params"]["masked"] < results["trained_params"]["unmasked"]


def test_localize_bench_smoke(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_localize.py"), "--smoke", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    results = json.loads(next(tmp_path.glob("*/localize_smoke.json")).read_text())
    assert {"fwd_bwd", "attribution", "patching"} <= set(results["arms"])


def test_scan_bench_smoke(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_scan.py"), "--smoke", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    results = json.loads(next(tmp_path.glob("*/scan_smoke.json")).read_text())
    assert {"matmul", "projection", "scan"} <= set(results["arms"]) and results["shape"]["n_vectors"] == 2 * 256
    assert (
        all(v > 0 for v in results["ratios"].values()) and results["memory"]["all_logits_bytes_fp32"] == 512 * 1000 * 4
    )


def test_sync_bench_finds_no_host_reads_that_grow_with_the_work(tmp_path):
    """Not a timing claim: counts of host reads / copies in our code at 1x and 2x work."""
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_syncs.py"), "--smoke", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    paths = json.loads(next(tmp_path.glob("*/syncs_smoke.json")).read_text())["paths"]
    assert {
        "capture",
        "recall",
        "attribution_patching",
        "routing_stats",
        "concept_scan",
        "ridge_probes",
        "unlearn_loop",
    } <= set(paths)
    dirty = {k: v["growth"] for k, v in paths.items() if not v["clean"] and not v["iterative"]}
    assert not dirty, f"host reads that grow with the work: {dirty}"
    assert paths["logistic_probes"]["1x"]["ours"] > 0  # the spy sees reads at all (one flag per L-BFGS iteration)
    assert (
        paths["unlearn_loop"]["2x"]["ours"] - paths["unlearn_loop"]["1x"]["ours"] <= 2
    )  # per-parameter checks every step: ~30


def test_routing_bench_smoke(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_routing.py"), "--smoke", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    results = json.loads(next(tmp_path.glob("*/routing_smoke.json")).read_text())
    assert {"plain", "routing_stats"} <= set(results["arms"]) and results["throughput_ratio"] > 0


def test_probes_bench_smoke(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_probes.py"), "--smoke", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    results = json.loads(next(tmp_path.glob("*/probes_smoke.json")).read_text())
    assert {"sklearn_loop", "ridge_batched", "logistic_batched"} <= set(results["arms"])
    assert all(0 <= a <= 1 for a in results["accuracy"].values())


def test_memory_bench_smoke(tmp_path):
    """Every arm in its own process; the full TL cache keeps more activations than one captured hook."""
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_memory.py"), "--smoke", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    results = json.loads(next(tmp_path.glob("*/memory_smoke.json")).read_text())
    arms = results["arms"]
    assert set(arms) == {"plain", "ours_1", "tl_1", "tl_full"}
    assert arms["tl_full"]["kept_bytes"] > 10 * arms["ours_1"]["kept_bytes"] > 0
    assert all(v["peak_growth_bytes"] >= 0 for v in arms.values())


def test_run_all_scaling_smoke_and_summary(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), "--smoke", "--only", "scaling", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(next(tmp_path.glob("*/scaling_smoke.json")).read_text())
    assert set(results["tables"]) == {
        "capture/seq",
        "capture/batch",
        "capture/layers",
        "patching/layers",
        "patching/facts",
        "routing/experts",
        "routing/seq",
    }
    assert all(row["ratio"] > 0 for row in results["tables"]["capture/seq"])
    summary = next(tmp_path.glob("*/SUMMARY_smoke.md")).read_text()
    assert "## scaling" in summary and "capture/seq" in summary and "## capture\n\nnot run" in summary


def test_audit_bench_smoke(small_organism, tmp_path):
    """The audit cost benchmark: every stage of a checkpoint audit timed from the report's
    provenance, each readout family inside the verify stage, and the memory plan."""
    small_organism("facts")  # the shared organism cache (UNLEARNSCOPE_HOME) the subprocess inherits
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_audit.py"), "--smoke", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    res = json.loads(next(tmp_path.glob("*/audit_smoke.json")).read_text())
    stages = res["points"][0]["stages"]
    assert {
        "localize on ORIG",
        "verify checkpoint",
        "output metrics",
        "readout: probe",
        "readout: relearn:sweep",
    } <= set(stages)
    whole = sum(v["seconds"] for k, v in stages.items() if not k.startswith("readout:"))
    assert 0 < whole <= res["points"][0]["seconds_total"] + 1
    inside = sum(v["seconds"] for k, v in stages.items() if k.startswith("readout:"))
    assert inside <= stages["verify checkpoint"]["seconds"] + 0.5  # the readouts run inside the verify stage
    assert res["memory_plan"]["8b"]["lora8_state_gib"] < res["memory_plan"]["8b"]["full_finetune_state_gib"] / 100
