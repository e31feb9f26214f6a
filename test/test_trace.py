"""The opt-in per-frame trace (THERMAL_PERCEPTION_TRACE) and its latency breakdown."""

from __future__ import annotations

import json

import pytest

from thermal_perception.ros import trace

MS = 1_000_000


def test_off_unless_the_environment_names_a_file(monkeypatch):
    monkeypatch.delenv(trace.ENV, raising=False)
    assert trace.from_environment("driver") is None
    monkeypatch.setenv(trace.ENV, "")
    assert trace.from_environment("driver") is None


def test_nodes_share_one_file_and_stages_add_up(tmp_path, monkeypatch):
    path = tmp_path / "trace.jsonl"
    monkeypatch.setenv(trace.ENV, str(path))
    driver, processor = trace.from_environment("driver"), trace.from_environment("processor")
    stamp = 1_765_000_000 * 10**9
    clock = iter(range(stamp + MS, stamp + 100 * MS, MS))  # one event per ms
    monkeypatch.setattr(trace.time, "time_ns", lambda: next(clock))
    for event in ("read", "converted", "publish", "published"):
        driver.mark(stamp, event)
    driver.done(stamp)
    processor.event(stamp, "status")
    for event in ("received", "start", "computed", "converted", "published"):
        processor.mark(stamp, event)
    processor.done(stamp)
    processor.mark(stamp + 1, "received")  # never done: not written
    driver.close()
    processor.close()
    lines = path.read_text().splitlines()
    assert [json.loads(line)["role"] for line in lines] == ["driver", "processor", "processor"]
    frames = trace.load([*lines, '{"role": "driver", "sta'])  # a line cut short: skipped
    frames[stamp]["probe.received"] = stamp + 20 * MS
    table = trace.breakdown(frames)
    stages = [table[name]["p50_ms"] for name, _, _ in trace.STAGES]
    assert stages[0] == pytest.approx(1.0)  # capture -> read
    assert table[trace.TOTAL[0]]["p50_ms"] == pytest.approx(20.0)
    assert sum(stages) == pytest.approx(20.0)
    assert table["processor: wait for status"]["p50_ms"] == pytest.approx(1.0)
    assert "p99 ms" in trace.format_table(table)


def test_incomplete_frames_are_left_out():
    frames = trace.load(['{"role": "driver", "stamp": 5, "read": 7}'])
    table = trace.breakdown(frames)
    assert all(row["frames"] == 0 for row in table.values())
    assert "(no frames)" in trace.format_table(table)


def test_pending_frames_are_bounded(tmp_path):
    t = trace.FrameTrace(tmp_path / "t.jsonl", "processor", keep=3)
    for stamp in range(10):
        t.mark(stamp, "received")
    assert sorted(t.pending) == [7, 8, 9]
    t.close()
