"""Progress reporting (t5repro.log.progress): the trainer's loss and throughput beside the count and ETA."""

from __future__ import annotations

import itertools
import logging

from t5repro import log as log_lib


def test_log_file_lines_carry_rate_eta_and_status(monkeypatch, caplog):
    clock = itertools.count(0.0, 11.0)  # every call 11 s later: each item is past the 10 s reporting period
    monkeypatch.setattr(log_lib.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(log_lib.sys.stderr, "isatty", lambda: False)
    seen = []
    with caplog.at_level(logging.INFO, logger="t5repro.progress"):
        for i in log_lib.progress(range(3), total=3, desc="train", unit="step", status=lambda: f"loss {len(seen)}"):
            seen.append(i)
    lines = [r.getMessage() for r in caplog.records]
    assert seen == [0, 1, 2]
    assert lines[0].startswith("train: 1/3 step,") and "ETA" in lines[0] and lines[0].endswith(", loss 1")
    assert lines[-1].startswith("train: done, 3 step")


def test_tty_bar_shows_the_status(monkeypatch, capsys):
    monkeypatch.setattr(log_lib.sys.stderr, "isatty", lambda: True)
    out = list(log_lib.progress(range(4), total=4, desc="train", unit="step", status=lambda: "loss 0.1234"))
    assert out == [0, 1, 2, 3]
    err = capsys.readouterr().err
    assert "4/4" in err and "loss 0.1234" in err
