"""metrics.json: one section per stage, every metric with its protocol, written atomically."""

import json
import math

import pytest

from gen_framework.metrics.report import FORMAT, MetricRecord, evaluation_section, write_metrics_json


def record(value: float) -> MetricRecord:
    return MetricRecord(value, False, "how", feature_network={"name": "net", "weights_sha256": "ab" * 32},
                        num_real=10, num_generated=20, resize="none", seed=3, checkpoint="last.ckpt")


def test_each_metric_records_its_protocol(tmp_path):
    path = write_metrics_json(tmp_path / "metrics.json", "test",
                              evaluation_section({"fid": record(1.5)}, run={"split": "test", "global_step": 7}))
    document = json.loads(path.read_text())
    assert document["format"] == FORMAT
    section = document["test"]
    assert section["split"] == "test" and section["global_step"] == 7 and "created" in section
    fid = section["metrics"]["fid"]
    assert fid == {
        "value": 1.5, "higher_is_better": False, "method": "how",
        "feature_network": {"name": "net", "weights_sha256": "ab" * 32}, "num_real": 10, "num_generated": 20,
        "resize": "none", "seed": 3, "checkpoint": "last.ckpt", "details": {},
    }


def test_a_new_stage_keeps_the_others_and_the_same_stage_is_replaced(tmp_path):
    path = tmp_path / "run" / "metrics.json"
    write_metrics_json(path, "val", evaluation_section({"fid": record(9.0)}, run={}))
    write_metrics_json(path, "test", evaluation_section({"fid": record(2.0)}, run={}))
    write_metrics_json(path, "val", evaluation_section({"fid": record(5.0)}, run={}))
    document = json.loads(path.read_text())
    assert document["val"]["metrics"]["fid"]["value"] == 5.0
    assert document["test"]["metrics"]["fid"]["value"] == 2.0
    assert sorted(p.name for p in path.parent.iterdir()) == ["metrics.json"]  # no temporary file left


def test_an_unreadable_file_is_replaced(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("{not json")
    write_metrics_json(path, "test", evaluation_section({"kid": record(0.1)}, run={}))
    assert set(json.loads(path.read_text())) == {"format", "test"}


def test_non_finite_values_become_null_with_the_reason(tmp_path):
    path = write_metrics_json(tmp_path / "m.json", "test", evaluation_section({"bpc": record(math.nan)}, run={}))
    bpc = json.loads(path.read_text())["test"]["metrics"]["bpc"]
    assert bpc["value"] is None and bpc["details"]["non_finite_value"] == "nan"


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = write_metrics_json(tmp_path / "metrics.json", "test", evaluation_section({"fid": record(1.0)}, run={}))
    before = path.read_text()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("gen_framework.persistence.atomic.os.replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_metrics_json(path, "test", evaluation_section({"fid": record(2.0)}, run={}))
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
