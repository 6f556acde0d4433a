"""Bad input: one clear SpecError each, fast, and never a half-written cache."""

from __future__ import annotations

import json
import time

import pydantic
import pytest

import runner.problems.hub as hub_module
from runner.problems import build
from runner.problems.text_spec import LanguageModelProblem, Text2TextProblem, VocabSpec
from runner.specs.errors import SpecError
from test_data_support import PAIRS, tiny_text_spec, write_lines, write_parallel


def _build_fails(spec, data_dir) -> str:
    with pytest.raises(SpecError) as info:
        build(spec, data_dir)
    assert not [p for p in data_dir.iterdir() if p.is_dir()], "a cache folder was left behind"
    return str(info.value)


def test_files_with_different_line_counts(tmp_path):
    folder = write_parallel(tmp_path / "src")
    write_lines(folder / "val.en.gz", [en for _, en in PAIRS * 5][:-1])
    message = _build_fails(tiny_text_spec(folder), tmp_path / "data")
    assert f"{folder / 'val.de.gz'} has 30 lines" in message
    assert f"{folder / 'val.en.gz'} has 29" in message


def test_empty_line_in_aligned_files(tmp_path):
    folder = write_parallel(tmp_path / "src")
    lines = [en for _, en in PAIRS * 5]
    lines[6] = "  "
    lines[11] = ""
    write_lines(folder / "train.en.gz", lines)
    message = _build_fails(tiny_text_spec(folder), tmp_path / "data")
    assert f"{folder / 'train.en.gz'}:7: empty line (2 empty lines in all)" in message


def test_missing_split_file(tmp_path):
    folder = write_parallel(tmp_path / "src")
    (folder / "test.en.gz").unlink()
    message = _build_fails(tiny_text_spec(folder), tmp_path / "data")
    assert f"missing test split: looked for {folder / 'test.en.gz'}" in message


def test_vocabulary_larger_than_the_data_supports(tmp_path):
    folder = write_parallel(tmp_path / "src")
    message = _build_fails(tiny_text_spec(folder, vocab={"size": 50_000}), tmp_path / "data")
    assert "vocabulary size 50000 is larger than the training data supports" in message
    supported = int(message.split("set vocab.size to at most ")[1].split()[0])
    assert 258 < supported < 1000
    build(tiny_text_spec(folder, vocab={"size": supported}), tmp_path / "data")  # the advice works


def test_unreachable_hub_fails_fast_with_advice(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setattr(hub_module, "hub_endpoint", lambda: "https://127.0.0.1:9")  # nothing listens there
    spec = tiny_text_spec(
        tmp_path / "no_such_folder",
        source={"hub": {"dataset": "bentrevett/multi30k", "input_field": "de", "target_field": "en"}},
    )
    (tmp_path / "data").mkdir()
    started = time.perf_counter()
    message = _build_fails(spec, tmp_path / "data")
    assert time.perf_counter() - started < 5
    assert "the dataset hub is unreachable; point the problem at local files with -o problem.source.path=DIR" in message
    assert "HF_DATASETS_OFFLINE=1" in message


def test_missing_local_folder_without_hub(tmp_path):
    (tmp_path / "data").mkdir()
    message = _build_fails(tiny_text_spec(tmp_path / "nowhere"), tmp_path / "data")
    assert "local data folder" in message and "nowhere" in message and "not found" in message


def test_record_without_the_named_field(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    for split in ("train", "valid", "test"):
        (folder / f"{split}.jsonl").write_text(json.dumps({"src": "a b", "target": "c d"}) + "\n")
    files = {"train": "train.jsonl", "eval": "valid.jsonl", "test": "test.jsonl"}
    spec = tiny_text_spec(folder, source={"format": "jsonl", "files": files, "input_field": "src",
                                          "target_field": "tgt"})
    message = _build_fails(spec, tmp_path / "data")
    assert "train.jsonl record 1: no field 'tgt' (found: src, target)" in message


def test_file_that_is_not_utf8(tmp_path):
    folder = write_parallel(tmp_path / "src")
    (folder / "train.de.gz").write_bytes(__import__("gzip").compress("caf\xe9\n".encode("latin-1") * 30))
    message = _build_fails(tiny_text_spec(folder), tmp_path / "data")
    assert "train.de.gz:1:4: not UTF-8 text" in message  # path:line:col


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: VocabSpec(type="bpe"), "vocab.size is required for type 'bpe'"),
        (lambda: VocabSpec(type="byte", size=300), "fixed at 258"),
        (lambda: LanguageModelProblem.model_validate(
            {"source": {"path": "x", "input_field": "de", "target_field": "en"}, "vocab": {"type": "byte"}}),
         "read only target_field"),
        (lambda: Text2TextProblem.model_validate(
            {"source": {"path": "x", "files": {"train": "a.txt", "eval": "b.{field}", "test": "c.{field}"},
                        "input_field": "de", "target_field": "en"}, "vocab": {"type": "byte"}}),
         "needs a '{field}' placeholder"),
        (lambda: Text2TextProblem.model_validate({"source": {}, "vocab": {"type": "byte"}}),
         "needs a local `path`, a `hub` dataset, or both"),
    ],
)
def test_spec_mistakes_are_caught_at_validation(make, expected):
    with pytest.raises(pydantic.ValidationError) as info:
        make()
    assert expected in str(info.value)
