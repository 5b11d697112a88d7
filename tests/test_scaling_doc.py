"""docs/scaling.md's projection is computed from its own measured tables, by the model in
bench/capacity.py: pasting new measurements (or changing an assumption) without the
projection that follows from them fails here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "scaling.md"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_capacity", ROOT / "bench" / "capacity.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


def test_the_projection_follows_from_the_measured_tables() -> None:
    bench = load_bench()
    text = DOC.read_text(encoding="utf-8")
    measured = bench.read_tables(text)
    assert set(measured.phases) == {
        "sms_report",
        "telegram_report",
        "poll_open",
        "poll_answer",
        "dispatch",
    }
    assert {t for t, *_ in measured.sizes} >= {"outbox", "inbound_messages", "deeds", "people"}
    for line in bench.projection(measured):
        assert line in text, f"docs/scaling.md lacks the projected line:\n{line}"


def test_read_tables_reads_what_a_run_prints() -> None:
    """A run prints its tables with measured_table/size_table; read back, they give the
    same figures (so a run's projection and `--project` on its pasted output agree)."""
    bench = load_bench()
    phase = bench.Phase("poll_answer", 4000, 20.0, 40120, 4000, 20000, 35_768_000, 7.9, 9.48)
    run = bench.EngineRun("postgresql", {"poll_answer": phase})
    run.sizes = [("outbox", 20000, 440.0, 1401.0), ("polls", 1, 247.0, 81920.0)]
    printed = "\n".join([*bench.measured_table([run]), "", *bench.size_table(run)])
    back = bench.read_tables(printed)
    got = back.phases["poll_answer"]
    assert got.rate == 200
    assert got.per(got.statements) == 10.03
    assert got.per(got.transactions) == 1.0
    assert got.per(got.rows) == 5.0
    assert got.per(got.wal_bytes) == 8942
    assert round(got.per(got.worker_cpu) * 1000, 3) == 1.975
    assert round(got.per(got.db_cpu) * 1000, 3) == 2.370
    assert back.sizes == [("outbox", 20000, 440.0, 1401.0)]  # a few rows: page overhead, left out
