"""The cheap benchmarks end to end: `python -m benchmarks.run NAME --quick` writes its JSON."""

import json

import pytest

from benchmarks import run as bench_run
from benchmarks.cli_startup import heavy_imports


def test_gpu_mode_reports_not_measured_without_a_gpu(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: gpu_mfu would measure for real")
    assert bench_run.main(["gpu_mfu", "--quick", "--results-dir", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "gpu_mfu.json").read_text())
    assert data["status"] == "not measured: no GPU"
    assert data["ours"] is None and data["baseline"] is None and data["ratio"] is None
    assert data["machine"]["device"] == "cpu" and data["machine"]["cores"] >= 1
    assert len(data["load_start"]) == 3 and data["date"]


def test_validate_and_show_import_neither_torch_nor_ray():
    assert heavy_imports(["validate"]) == []
    assert heavy_imports(["show", "catalog/recipes/ende_big.yaml"]) == []


def test_unknown_benchmark_names_are_refused(capsys):
    with pytest.raises(SystemExit):
        bench_run.main(["througput"])
    assert "unknown benchmark" in capsys.readouterr().err


def test_the_speech_augmentation_benchmark_times_both_sides_of_the_real_loop(tmp_path, monkeypatch):
    from tests.test_speech_voices import FSDD

    if FSDD is None:
        pytest.skip("../shared/data/fsdd (the shared FSDD copy) is not present")
    monkeypatch.setenv("RUNNER_DATA_DIR", str(tmp_path / "data"))
    assert bench_run.main(["speech_augment", "--quick", "--results-dir", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "speech_augment.json").read_text())
    medians = data["medians"]
    assert data["ours"] > 0 and data["baseline"] > 0 and data["ratio"] == data["ours"] / data["baseline"]
    # changing the waveforms is most of an augmented batch's collation: what the helper thread hides
    assert medians["collate_ms_augmented"] > 3 * medians["collate_ms_plain"]
