"""The printed table of one mode's figures (the JSON file has them all, samples included)."""

from __future__ import annotations

from bench.stats import format_ratio, ratio

LABELS = {
    "floor": "--no-index --find-links (floor)",
    "nginx": "nginx, static tree + .metadata",
    "feedhouse": "Feedhouse",
    "pypiserver": "pypiserver + gunicorn",
}


def _spread(figure: dict, unit: str, digits: int) -> str:
    median = f"{figure['median']:.{digits}f}" + (f" {unit}" if unit else "")
    return f"{median} ({figure['min']:.{digits}f}-{figure['max']:.{digits}f})"


def ratios(mode: dict) -> dict:
    """Each server's median as a multiple of the reference's: the floor for pip, nginx (else
    pypiserver) for uv, pypiserver's throughput for the page, nginx's time for the download."""
    found: dict = {}
    for workload, reference in (("pip", "floor"), ("uv", "nginx")):
        if workload in mode:
            figures = mode[workload]
            reference = reference if reference in figures else "pypiserver"
            base = figures[reference]["median"]
            found[workload] = {
                f"{n}/{reference}": ratio(f["median"], base) for n, f in figures.items() if n != reference
            }
    if "page" in mode:
        servers = mode["page"]["servers"]
        found["page"] = {
            "feedhouse/pypiserver throughput": ratio(
                servers["feedhouse"]["per_second"]["median"], servers["pypiserver"]["per_second"]["median"]
            ),
            "feedhouse/pypiserver p50": ratio(
                servers["feedhouse"]["p50_ms"]["median"], servers["pypiserver"]["p50_ms"]["median"]
            ),
        }
    if "memory" in mode:
        memory = mode["memory"]
        seconds = memory["download"]["seconds"]
        found["memory"] = {
            "upload peak/file (worst)": max(u["peak_per_file"] for u in memory["uploads"]),
            "download peak/file": ratio(
                memory["download"]["peak_over_baseline_mib"]["median"], memory["file_mib"]
            ),
        }
        if "nginx" in seconds:
            found["memory"]["download time feedhouse/nginx"] = ratio(
                seconds["feedhouse"]["median"], seconds["nginx"]["median"]
            )
    return found


def _timed(title: str, figures: dict, reference: str) -> list[str]:
    lines = [f"{title:<52} {'median (min-max)':>24} {'x ' + reference:>14}"]
    base = figures[reference]["median"]
    for name, figure in figures.items():
        times = format_ratio(ratio(figure["median"], base))
        lines.append(f"  {LABELS[name]:<50} {_spread(figure, 's', 2):>24} {times:>14}")
    return lines


def format_mode(mode: dict) -> str:
    latency = mode["storage_latency_ms"]
    heading = (
        "loopback (Azurite direct)"
        if not latency
        else f"{latency:g} ms added each way to every storage request"
    )
    lines = [f"== storage: {heading} =="]
    if "pip" in mode:
        runs = mode["pip"]["floor"]["n"]
        lines += _timed(
            f"pip install --target, cold, {mode['wheels']} wheels ({runs} runs each)", mode["pip"], "floor"
        )
    if "uv" in mode:
        figures = mode["uv"]
        reference = "nginx" if "nginx" in figures else "pypiserver"
        runs = figures[reference]["n"]
        lines += _timed(f"uv pip compile, cold ({runs} runs each)", figures, reference)
        if reference != "nginx":
            lines.append("  (nginx is not installed: no static-tree comparison)")
    if "page" in mode:
        page = mode["page"]
        figures = page["servers"]
        lines.append(
            f"project page, {page['files']} files, {page['clients']} clients"
            f" ({page['rounds']} x {page['seconds']:g} s) {'pages/s (min-max)':>22}"
            f" {'p50 ms':>8} {'p99 ms':>8} {'x pypiserver':>13}"
        )
        base = figures["pypiserver"]["per_second"]["median"]
        for name, figure in figures.items():
            rate = figure["per_second"]
            lines.append(
                f"  {LABELS[name]:<50} {_spread(rate, '', 0):>22} {figure['p50_ms']['median']:>8.1f}"
                f" {figure['p99_ms']['median']:>8.1f} {format_ratio(ratio(rate['median'], base)):>13}"
            )
        cpu = ", ".join(f"{LABELS[n]} {f['client_cpu_percent']:.0f}%" for n, f in figures.items())
        lines.append(f"  (the load generator's own CPU, of one core: {cpu})")
    if "memory" in mode:
        memory = mode["memory"]
        size = memory["file_mib"]
        peaks = ", ".join(f"+{u['peak_over_baseline_mib']:.0f}" for u in memory["uploads"])
        worst = max(u["peak_per_file"] for u in memory["uploads"])
        after = [u["rss_after_over_baseline_mib"] for u in memory["uploads"]]
        lines.append(
            f"upload of a {size:.0f} MiB wheel x {len(memory['uploads'])}, Feedhouse over its idle"
            f" {memory['baseline_mib']:.0f} MiB: peaks {peaks} MiB (at most {worst:.2f}x the file);"
            f" RSS after {after[0]:+.0f} → {after[-1]:+.0f} MiB (growth {memory['rss_growth_mib']:+.0f} MiB)"
        )
        if "concurrent" in memory:
            step = memory["concurrent"]
            lines.append(
                f"  {step['uploads']} at once: peak +{step['peak_over_baseline_mib']:.0f} MiB"
                f" ({step['peak_per_file']:.2f}x one file)"
            )
        download = memory["download"]
        seconds = download["seconds"]
        line = (
            f"download of it (stream mode): Feedhouse {_spread(seconds['feedhouse'], 's', 2)},"
            f" peak +{download['peak_over_baseline_mib']['median']:.0f} MiB"
        )
        if "nginx" in seconds:
            times = format_ratio(ratio(seconds["feedhouse"]["median"], seconds["nginx"]["median"]))
            line += f"; nginx {_spread(seconds['nginx'], 's', 3)}: Feedhouse takes {times}"
        lines.append(line)
    if "requests" in mode:
        title = "requests one after another on one connection (Feedhouse)"
        lines.append(f"{title:<52} {'median ms':>10} {'p95 ms':>8}")
        for label, figure in mode["requests"].items():
            lines.append(f"  {label:<50} {figure['median_ms']:>10.2f} {figure['p95_ms']:>8.2f}")
    return "\n".join(lines)
