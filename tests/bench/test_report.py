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
            "per_second": summary(rates),
            "p50_ms": summary([1000 / rate for rate in rates]),
            "p99_ms": summary([2000 / rate for rate in rates]),
            "client_cpu_percent": 5.0,
        }
        for name, rates in (("feedhouse", [20.0, 10.0]), ("pypiserver", [100.0, 50.0]))
    }
    return {
        "storage_latency_ms": 5.0,
        "load_average": (1.5, 1.0, 1.0),
        "wheels": 12,
        "pip": {
            "floor": summary([2.0, 4.0, 2.0]),
            "feedhouse": summary([3.0, 6.0, 3.0]),
            "pypiserver": summary([2.2, 4.4, 2.2]),
        },
        "uv": uv,
        "page": {"files": 2000, "clients": 16, "rounds": 2, "servers": page},
        "memory": {
            "file_mib": 90.0,
            "baseline_mib": 60.0,
            "rss_growth_mib": 10.0,
            "uploads": [
                {"peak_over_baseline_mib": 180.0, "peak_per_file": 2.0, "rss_after_over_baseline_mib": 5.0},
                {"peak_over_baseline_mib": 270.0, "peak_per_file": 3.0, "rss_after_over_baseline_mib": 15.0},
            ],
            "download": {
                "seconds": {"feedhouse": summary([1.0, 2.0]), "nginx": summary([0.1, 0.2])},
                "peak_over_baseline_mib": summary([45.0, 45.0]),
            },
        },
        "requests": {"page of flask, 1 file (JSON)": {"median_ms": 7.0, "p95_ms": 9.0}},
    }


def test_ratios_are_medians_of_side_by_side_pairs_against_the_floor_nginx_and_pypiserver() -> None:
    found = ratios(_mode(with_nginx=True))
    # The second round ran on a busier machine for everyone: pairs cancel it, medians would not.
    assert found["pip"] == {"feedhouse/floor": pytest.approx(1.5), "pypiserver/floor": pytest.approx(1.1)}
    assert found["uv"] == {"feedhouse/nginx": pytest.approx(2.75), "pypiserver/nginx": pytest.approx(1.5)}
    assert found["page"] == {
        "feedhouse/pypiserver per_second": pytest.approx(0.2),
        "feedhouse/pypiserver p50_ms": pytest.approx(5.0),
        "feedhouse/pypiserver p99_ms": pytest.approx(5.0),
    }
    assert found["memory"] == {
        "upload peak/file (worst)": 3.0,
        "download peak/file": 0.5,
        "download time feedhouse/nginx": pytest.approx(10.0),
    }


def test_without_nginx_uv_is_compared_with_pypiserver_and_the_table_says_so() -> None:
    mode = _mode(with_nginx=False)
    assert ratios(mode)["uv"] == {"feedhouse/pypiserver": pytest.approx((0.5 / 0.3 + 0.6 / 0.3) / 2)}
    assert "nginx is not installed" in format_mode(mode)


def test_the_table_prints_each_workload_with_its_ratio() -> None:
    table = format_mode(_mode(with_nginx=True))
    assert "5 ms added each way" in table
    assert "1.50x" in table  # pip: Feedhouse against the floor
    assert "2.75x" in table  # uv: Feedhouse against nginx
    assert "0.20x" in table  # the page: Feedhouse's throughput against pypiserver's
    assert "10.00x" in table  # the download: Feedhouse's time against nginx's
    assert "growth +10 MiB" in table


def test_feedhouse_meets_pypiserver_and_nginx_head_to_head_turn_by_turn() -> None:
    mode = _mode(with_nginx=True)
    # Feedhouse is faster than pypiserver in the first and last turns, slower in the busy middle one.
    mode["pip"]["pypiserver"] = summary([3.5, 5.0, 3.2])
    found = ratios(mode)
    assert found["pip head to head"] == {
        "pypiserver": {"ratio": pytest.approx(3 / 3.2), "faster": 2, "turns": 3},
    }
    assert found["uv head to head"] == {
        "nginx": {"ratio": pytest.approx(2.75), "faster": 0, "turns": 2},
        "pypiserver": {"ratio": pytest.approx((0.5 / 0.3 + 0.6 / 0.3) / 2), "faster": 0, "turns": 2},
    }
    table = format_mode(mode)
    assert "Feedhouse head to head: 0.94x pypiserver (faster in 2 of 3 turns)" in table
    assert "Feedhouse head to head: 2.75x nginx (faster in 0 of 2 turns), 1.83x pypiserver" in table
