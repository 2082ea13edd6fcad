"""Reports are written atomically and read back strictly."""

import os

import pytest

from snnbench import results
from snnbench.errors import ReportError


def test_save_is_atomic_when_writing_fails(tmp_path):
    path = tmp_path / "r.json"
    results.save(results.new_report("compare", {"python": "3"}, []), path)
    before = path.read_text()

    bad = results.new_report("compare", {"python": "3"}, [{"x": float("nan")}])
    bad["unserialisable"] = {1j: 2}  # json.dump fails on a complex key, mid-write
    with pytest.raises(TypeError):
        results.save(bad, path)
    assert path.read_text() == before
    assert os.listdir(tmp_path) == ["r.json"]


def test_round_trip(tmp_path):
    record = {"neuron": "slstm", "case": "a", "device": "cpu", "dtype": "float32", "impl": "native", "verdict": "pass"}
    path = results.save(results.new_report("compare", {"python": "3"}, [record]), tmp_path / "r.json")
    loaded = results.load(path)
    assert loaded["results"] == [record] and loaded["schema_version"] == results.SCHEMA_VERSION


def test_kind_mismatch_is_refused(tmp_path):
    path = results.save(results.new_report("compare", {}, []), tmp_path / "r.json")
    with pytest.raises(ReportError, match="expected bench"):
        results.load(path, kind="bench")


def test_default_paths_do_not_collide(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "REPORTS_DIR", tmp_path)
    first = results.default_path("compare")
    results.save(results.new_report("compare", {}, []), first)
    assert results.default_path("compare") != first
