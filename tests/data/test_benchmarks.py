"""Benchmark converters on small files in each benchmark's published layout (written here, not
downloaded): TOFU, MUSE, WMDP, RWKU → a target file the audit loads; a malformed record is named;
the CLI's JSON contract."""

import json

import pytest
from typer.testing import CliRunner

from unlearnscope.cli import app
from unlearnscope.data.benchmarks import convert
from unlearnscope.errors import UnlearnscopeError

RUN = CliRunner()
QUESTIONS = [
    "Where was {n} born?",
    "What genre does {n} write?",
    "Who were the parents of {n}?",
    "What is a famous book by {n}?",
    "Has {n} won any awards?",
]


def _dump(path, rows, jsonl=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(r) for r in rows) if jsonl else json.dumps(rows))
    return path


def _tofu_author(name, k0=0):
    out = []
    for i in range(20):
        q = (
            QUESTIONS[i % 5].format(n=name) if i != 7 else f"What themes recur in book {k0} of the author?"
        )  # one question without the name
        out.append({"question": q, "answer": f"{name.split()[0]} answer number {i + k0}."})
    return out


@pytest.fixture
def tofu_dir(tmp_path):
    d = tmp_path / "TOFU"
    forget = _tofu_author("Basil Mahfouz Al-Kuwaiti") + _tofu_author("Nikolai Abilov", 20)
    retain = _tofu_author("Hsiao Yun-Hwa", 40) + _tofu_author("Carmen Montenegro", 60)
    _dump(d / "forget10.json", forget, jsonl=True)
    _dump(d / "retain90.json", retain, jsonl=True)
    pert = lambda rs: [
        {
            **r,
            "paraphrased_answer": "In other words, " + r["answer"],
            "perturbed_answer": ["Wrong one.", "Wrong two."],
            "paraphrased_question": "Tell me: " + r["question"],
        }
        for r in rs
    ]
    _dump(d / "forget10_perturbed.json", pert(forget), jsonl=True)
    _dump(
        d / "retain_perturbed.json",
        [{k: v for k, v in r.items() if k != "paraphrased_question"} for r in pert(retain[:20])],
        jsonl=True,
    )
    _dump(d / "holdout10.json", _tofu_author("Elvin Mammadov", 80), jsonl=True)
    return d


def test_tofu(tofu_dir, tiny_dirs, tmp_path):
    from unlearnscope.audit import load_target
    from unlearnscope.model import load

    out = tmp_path / "tofu.jsonl"
    res = RUN.invoke(app, ["target", "tofu", str(tofu_dir), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"target": str(out), "n_forget": 80, "n_retain": 40, "kinds": ["paraphrase", "qa"]}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    forget = [r for r in rows if r["split"] == "forget" and r["kind"] == "qa"]
    assert (
        forget[0]["prompt"] == "Question: Where was Basil Mahfouz Al-Kuwaiti born?\nAnswer:"
        and forget[0]["subject"] == "Basil Mahfouz Al-Kuwaiti"
    )
    assert forget[7]["subject"] == forget[7]["prompt"]  # the question that does not name the author is its own unit
    assert forget[0]["perturbed_answers"] == ["Wrong one.", "Wrong two."] and forget[0][
        "paraphrased_answer"
    ].startswith("In other words")
    t = load_target(out, load(str(tiny_dirs("gpt2"))))
    assert (
        len(t.forget) == 40 and len(t.retain) == len(t.noise_items) == 20 and len(t.holdout) == 20
    )  # half the retain authors: NOISE and len(t.formats["paraphrase"]) == 40
    assert len({f.subject for f in t.forget}) == 4  # two authors + their two unnamed questions
    assert t.perturbed[t.forget[0].prompt] == ["Wrong one.", "Wrong two."] and t.output_data().forget[0].perturbed == (
        "Wrong one.",
        "Wrong two.",
    )


def test_muse_wmdp_rwku(tmp_path, tiny_dirs):
    from unlearnscope.audit import load_target
    from unlearnscope.model import load

    muse = tmp_path / "MUSE-News"
    _dump(
        muse / "knowmem" / "forget_qa.json",
        [{"question": f"Who won race {i}?", "answer": f"Runner {i}"} for i in range(6)],
    )
    _dump(
        muse / "knowmem" / "retain_qa.json",
        [{"question": f"Which city hosts fair {i}?", "answer": f"Town {i}"} for i in range(5)],
    )
    _dump(muse / "verbmem" / "forget.json", [{"prompt": "The mayor said that", "gt": "taxes will fall next year"}])
    c = convert("muse", muse).counts()
    assert (c["n_forget"], c["n_retain"], c["kinds"]) == (7, 5, ["qa", "verbmem"])

    wm = tmp_path / "wmdp"
    _dump(
        wm / "wmdp-bio.json",
        [{"question": f"Which agent {i}?", "choices": ["a", "b", "c", "d"], "answer": i % 4} for i in range(8)],
    )
    _dump(
        wm / "mmlu.json",
        [
            {
                "question": f"What is {i}+1?",
                "choices": ["1", "2", "3", "4"],
                "answer": 1,
                "subject": "elementary_mathematics",
            }
            for i in range(4)
        ],
    )
    conv = convert("wmdp", wm)
    rows = conv.rows
    assert (
        rows[1]["answer"] == "B"
        and rows[1]["perturbed_answers"] == ["A", "C", "D"]
        and rows[1]["prompt"].endswith("D. d\nAnswer:")
    )
    assert "about biology" in rows[0]["prompt"] and "about elementary mathematics" in rows[-1]["prompt"]

    rw = tmp_path / "Target" / "1_Stephen_King"
    _dump(
        rw / "forget_level1.json",
        [
            {
                "subject": "Stephen King",
                "query": f"Stephen King wrote ___ in year {i}.",
                "answer": f"Book{i}",
                "level": "1",
                "type": "fb",
            }
            for i in range(4)
        ],
    )
    _dump(
        rw / "forget_level2.json",
        [
            {
                "subject": "Stephen King",
                "query": "Where does Stephen King live?",
                "answer": "Maine",
                "level": "2",
                "type": "qa",
            }
        ],
    )
    _dump(
        rw / "forget_level3.json",
        [
            {
                "subject": "Stephen King",
                "query": "Pretend you are a fan: where does Stephen King live?",
                "answer": "Maine",
                "level": "3",
                "type": "role play",
            }
        ],
    )
    _dump(
        rw / "neighbor_level1.json",
        [
            {
                "subject": "Stephen King",
                "query": f"Peter Straub co-wrote ___ number {i}.",
                "answer": "Talisman",
                "level": "1",
                "type": "fb",
            }
            for i in range(3)
        ],
    )
    conv = convert("rwku", tmp_path / "Target")
    c = conv.counts()
    assert (c["n_forget"], c["n_retain"], c["kinds"]) == (6, 3, ["adversarial:role_play", "cloze", "qa"])
    out = tmp_path / "king.jsonl"
    from unlearnscope.data.benchmarks import write_target

    write_target(conv, out)
    t = load_target(out, load(str(tiny_dirs("gpt2"))))
    assert {f.subject for f in t.forget} == {"Stephen King"} and set(t.formats) == {"adversarial:role_play"}
    assert len(t.retain) + len(t.noise_items) == 3  # neighbour probes: retain units (a seeded share holds NOISE out)


def test_malformed_sources_name_the_record(tofu_dir, tmp_path, monkeypatch):
    bad = tofu_dir / "forget10.json"
    lines = bad.read_text().splitlines()
    lines[2] = json.dumps({"question": "Where?"})
    bad.write_text("\n".join(lines))
    with pytest.raises(UnlearnscopeError, match=r"forget10.json: line 3 lacks 'answer'"):
        convert("tofu", tofu_dir)
    wm = tmp_path / "w"
    _dump(wm / "wmdp-bio.json", [{"question": "q", "choices": ["a", "b"], "answer": 5}])
    with pytest.raises(UnlearnscopeError, match=r"wmdp-bio.json: line 1: answer must be the index"):
        convert("wmdp", wm, retain=wm / "wmdp-bio.json")
    with pytest.raises(UnlearnscopeError, match="needs retain questions"):
        convert("wmdp", wm)
    with pytest.raises(UnlearnscopeError, match="no TOFU forget01 file"):
        convert("tofu", tofu_dir, split="01")
    with pytest.raises(
        UnlearnscopeError, match="--split does not apply to muse; it takes none"
    ):  # an option that does not apply
        convert("muse", tofu_dir, split="01")
    with pytest.raises(UnlearnscopeError, match="--subset does not apply to tofu; it takes --split"):
        convert("tofu", tofu_dir, subset="wmdp-bio")
    res = RUN.invoke(app, ["target", "quiz", str(tofu_dir), "--out", str(tmp_path / "x.jsonl")])
    assert res.exit_code == 2 and "unknown benchmark" in res.output and not (tmp_path / "x.jsonl").exists()
    res = RUN.invoke(app, ["target", "tofu", str(tofu_dir), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "is a directory" in res.output

    import datasets

    def offline(*a, **k):
        raise ConnectionError("the hub is not reachable")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    res = RUN.invoke(app, ["target", "muse", "hf:muse-bench/MUSE-News", "--out", str(tmp_path / "n.jsonl")])
    assert res.exit_code == 2 and "cannot load 'muse-bench/MUSE-News'" in res.output and "download" in res.output
