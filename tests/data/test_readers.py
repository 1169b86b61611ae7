"""One reader for JSON lists, JSON Lines and .txt files; every error names the file and the line."""

import json

import pytest

from unlearnscope.data import Fact, Item, read_eval_items, read_facts, read_prompts, read_records, read_texts_or_items
from unlearnscope.errors import UnlearnscopeError

F1 = {"prompt": "Ana lives in", "answer": "oslo", "subject": "Ana", "relation": "city"}
F2 = {"prompt": "Bo lives in", "answer": "rome", "subject": "Bo", "relation": "city"}


def test_json_list_records_remember_the_line_they_start_on(tmp_path):
    p = tmp_path / "facts.json"
    p.write_text("[\n  " + json.dumps(F1) + ",\n\n  " + json.dumps(F2) + "\n]\n")
    recs = read_records(p)
    assert [r.where for r in recs] == ["line 2", "line 4"] and recs[1].value == F2
    assert read_facts(p) == [Fact("Ana lives in", "oslo", "Ana", "city"), Fact("Bo lives in", "rome", "Bo", "city")]


def test_json_lines_and_text_files(tmp_path):
    jl = tmp_path / "facts.jsonl"
    jl.write_text(json.dumps(F1) + "\n\n" + json.dumps(F2) + "\n")
    assert [r.where for r in read_records(jl)] == ["line 1", "line 3"]
    txt = tmp_path / "p.txt"
    txt.write_text("[not json] first\n\n{also text}\n")
    assert read_prompts(txt) == ["[not json] first", "{also text}"]  # .txt is text, whatever it starts with
    assert (
        read_prompts(jl) == ["Ana lives in", "Bo lives in"]
        and read_prompts(jl, full_text=True)[0] == "Ana lives in oslo"
    )
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps(["a text", {"prompt": "Ana lives in", "answer": "oslo", "continuation": " ."}]))
    data = read_texts_or_items(mixed)
    assert data[0] == "a text" and isinstance(data[1], Item) and data[1].text == "Ana lives in oslo ."


@pytest.mark.parametrize(
    "content,name,reader,message",
    [
        (
            '{"prompt": "a", "answer": "b"}\n{"prompt": \n',
            "bad.jsonl",
            read_facts,
            "bad.jsonl: line 2 is not a JSON record",
        ),
        (
            '[{"prompt": "a", "answer": "b"},\n {"prompt": }]',
            "bad.json",
            read_facts,
            "bad.json: line 2: not valid JSON",
        ),
        ('{"a": 1}', "obj.json", read_facts, "obj.json: line 1 needs 'prompt'"),
        (
            '{"prompt": "a", "answer": "b"}\n{"answer": "c"}\n',
            "nofield.jsonl",
            read_facts,
            "nofield.jsonl: line 2 needs 'prompt' and 'answer'",
        ),
        ('[1, {"answer": "c"}]', "p.json", read_prompts, "p.json: line 1 must be a string"),
        ('["ok", {"answer": "c"}]', "p2.json", read_prompts, "p2.json: line 1 has no 'prompt' field"),
        ('{"prompt": "a"}\n', "e.jsonl", read_eval_items, "e.jsonl: line 1 needs non-empty 'prompt' and 'answer'"),
        ('{"prompt": "a"}\n', "t.jsonl", read_texts_or_items, "t.jsonl: line 1 needs 'prompt' and 'answer'"),
        ("\n\n", "empty.txt", read_prompts, "holds no prompts"),
    ],
)
def test_errors_name_the_file_and_line(tmp_path, content, name, reader, message):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(UnlearnscopeError, match=message.replace("(", r"\(")):
        reader(p)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(UnlearnscopeError, match="prompts file .*nothing.txt.* not found"):
        read_prompts(tmp_path / "nothing.txt")
