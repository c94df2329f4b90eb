from __future__ import annotations

import pytest

from bench.report import format_mode, ratios
from bench.stats import summary


def _mode(with_nginx: bool) -> dict:
    uv = {"feedhouse": summary([0.5, 0.6]), "pypiserver": summary([0.3, 0.3])}
    if with_nginx:
        uv = {"nginx": summary([0.2, 0.2]), **uv}
    page = {
        name: {
            "per_second": summary([rate]),
            "p50_ms": summary([p50]),
            "p99_ms": summary([p50 * 2]),
            "client_cpu_percent": 5.0,
        }
        for name, rate, p50 in (("feedhouse", 20.0, 400.0), ("pypiserver", 100.0, 100.0))
    }
    return {
        "storage_latency_ms": 5.0,
        "wheels": 12,
        "pip": {"floor": summary([2.0, 2.2]), "feedhouse": summary([3.0]), "pypiserver": summary([2.2])},
        "uv": uv,
        "page": {"files": 2000, "clients": 16, "seconds": 5.0, "rounds": 1, "servers": page},
        "memory": {
            "file_mib": 90.0,
            "baseline_mib": 60.0,
            "rss_growth_mib": 10.0,
            "uploads": [
                {"peak_over_baseline_mib": 180.0, "peak_per_file": 2.0, "rss_after_over_baseline_mib": 5.0},
                {"peak_over_baseline_mib": 270.0, "peak_per_file": 3.0, "rss_after_over_baseline_mib": 15.0},
            ],
            "download": {
                "seconds": {"feedhouse": summary([1.0]), "nginx": summary([0.1])},
                "peak_over_baseline_mib": summary([45.0]),
            },
        },
        "requests": {"project page (JSON)": {"median_ms": 7.0, "p95_ms": 9.0}},
    }


def test_ratios_are_to_the_floor_nginx_and_pypiserver() -> None:
    found = ratios(_mode(with_nginx=True))
    assert found["pip"] == {
        "feedhouse/floor": pytest.approx(3.0 / 2.1),
        "pypiserver/floor": pytest.approx(2.2 / 2.1),
    }
    assert found["uv"] == {
        "feedhouse/nginx": pytest.approx(0.55 / 0.2),
        "pypiserver/nginx": pytest.approx(1.5),
    }
    assert found["page"] == {"feedhouse/pypiserver throughput": 0.2, "feedhouse/pypiserver p50": 4.0}
    assert found["memory"] == {
        "upload peak/file (worst)": 3.0,
        "download peak/file": 0.5,
        "download time feedhouse/nginx": pytest.approx(10.0),
    }


def test_without_nginx_uv_is_compared_with_pypiserver_and_the_table_says_so() -> None:
    mode = _mode(with_nginx=False)
    assert ratios(mode)["uv"] == {"feedhouse/pypiserver": pytest.approx(0.55 / 0.3)}
    assert "nginx is not installed" in format_mode(mode)


def test_the_table_prints_each_workload_with_its_ratio() -> None:
    table = format_mode(_mode(with_nginx=True))
    assert "5 ms added each way" in table
    assert "1.43x" in table  # pip: Feedhouse over the floor
    assert "2.75x" in table  # uv: Feedhouse over nginx
    assert "0.20x" in table  # the page: Feedhouse's throughput over pypiserver's
    assert "10.00x" in table  # the download: Feedhouse's time over nginx's
    assert "growth +10 MiB" in table
