"""The bench's cold start: the deployment zip's app imported and indexed in fresh interpreters, with
and without its shipped bytecode (timings are reported, never asserted)."""

from __future__ import annotations

import pytest

from bench import coldstart
from bench.servers import BenchError


@pytest.mark.timeout(300)
def test_it_imports_the_packaged_app_both_ways(tmp_path):
    figures = coldstart.run(tmp_path, rounds=1)
    assert set(figures) == {"shipped bytecode", "sources only"}
    assert all(figure["n"] == 1 and figure["median"] > 0 for figure in figures.values())
    assert not list((tmp_path / "coldstart-sources").rglob("*.pyc"))
    assert list((tmp_path / "coldstart-shipped" / "shared" / "__pycache__").glob("storage.*.pyc"))
    text = coldstart.format_figures(figures)
    assert "shipped bytecode" in text and "sources only" in text


def test_an_app_that_does_not_import_stops_the_bench(tmp_path):
    (tmp_path / "function_app.py").write_text("raise SystemExit('broken')\n")
    with pytest.raises(BenchError, match="importing the packaged app failed"):
        coldstart._once(tmp_path)
