"""The ratios of one mode's figures, and the table printed for it (the JSON file has them all)."""

from __future__ import annotations

from bench.stats import format_ratio, paired_ratio, turns_won

LABELS = {
    "floor": "--no-index --find-links (floor)",
    "nginx": "nginx, static tree + .metadata",
    "feedhouse": "Feedhouse",
    "pypiserver": "pypiserver + gunicorn",
}


def _spread(figure: dict, unit: str, digits: int) -> str:
    median = f"{figure['median']:.{digits}f}" + (f" {unit}" if unit else "")
    return f"{median} ({figure['min']:.{digits}f}-{figure['max']:.{digits}f})"


def reference_of(workload: str, figures: dict) -> str:
    """What a workload's servers are compared with: the floor for pip, nginx for uv (pypiserver
    where nginx is not installed), pypiserver for the page."""
    preferred = {"pip": "floor", "uv": "nginx", "page": "pypiserver"}[workload]
    return preferred if preferred in figures else "pypiserver"


def ratios(mode: dict) -> dict:
    """Each server against the reference, as the median of the ratios of side-by-side samples:
    times for pip and uv, pages per second and p50 for the page, nginx's time for the download."""
    found: dict = {}
    for workload in ("pip", "uv"):
        if workload in mode:
            figures = mode[workload]
            reference = reference_of(workload, figures)
            found[workload] = {
                f"{name}/{reference}": paired_ratio(figure["samples"], figures[reference]["samples"])
                for name, figure in figures.items()
                if name != reference
            }
            # Feedhouse against each other server directly: "ahead of pypiserver" is then one ratio,
            # not the difference of two ratios to the floor, each with its own noise.
            feedhouse = figures["feedhouse"]["samples"]
            found[f"{workload} head to head"] = {
                name: {
                    "ratio": paired_ratio(feedhouse, figure["samples"]),
                    "faster": turns_won(feedhouse, figure["samples"]),
                    "turns": len(feedhouse),
                }
                for name, figure in figures.items()
                if name in ("pypiserver", "nginx")
            }
    if "page" in mode:
        servers = mode["page"]["servers"]
        feedhouse, pypiserver = servers["feedhouse"], servers["pypiserver"]
        found["page"] = {
            f"feedhouse/pypiserver {figure}": paired_ratio(
                feedhouse[figure]["samples"], pypiserver[figure]["samples"]
            )
            for figure in ("per_second", "p50_ms", "p99_ms")
        }
    if "memory" in mode:
        memory = mode["memory"]
        seconds = memory["download"]["seconds"]
        found["memory"] = {
            "upload peak/file (worst)": max(u["peak_per_file"] for u in memory["uploads"]),
            "download peak/file": memory["download"]["peak_over_baseline_mib"]["median"] / memory["file_mib"],
        }
        if "nginx" in seconds:
            found["memory"]["download time feedhouse/nginx"] = paired_ratio(
                seconds["feedhouse"]["samples"], seconds["nginx"]["samples"]
            )
    return found


def _timed(title: str, figures: dict, reference: str, found: dict, head_to_head: dict) -> list[str]:
    lines = [f"{title:<52} {'median (min-max)':>24} {'x ' + reference:>14}"]
    for name, figure in figures.items():
        times = format_ratio(1.0 if name == reference else found[f"{name}/{reference}"])
        lines.append(f"  {LABELS[name]:<50} {_spread(figure, 's', 2):>24} {times:>14}")
    against = [
        f"{format_ratio(duel['ratio'])} {name} (faster in {duel['faster']} of {duel['turns']} turns)"
        for name, duel in head_to_head.items()
    ]
    if against:
        lines.append(f"  Feedhouse head to head: {', '.join(against)}")
    return lines


def format_mode(mode: dict) -> str:
    found = ratios(mode)
    latency = mode["storage_latency_ms"]
    heading = (
        "loopback (Azurite direct)"
        if not latency
        else f"{latency:g} ms added each way to every storage request"
    )
    lines = [
        f"== storage: {heading} (load average {mode['load_average'][0]:.1f};"
        " ratios are medians of side-by-side pairs) =="
    ]
    if "pip" in mode:
        runs = mode["pip"]["floor"]["n"]
        title = f"pip install --target, cold, {mode['wheels']} wheels ({runs} runs each)"
        lines += _timed(title, mode["pip"], "floor", found["pip"], found["pip head to head"])
    if "uv" in mode:
        figures = mode["uv"]
        reference = reference_of("uv", figures)
        lines += _timed(
            f"uv pip compile, cold ({figures[reference]['n']} runs each)",
            figures,
            reference,
            found["uv"],
            found["uv head to head"],
        )
        if reference != "nginx":
            lines.append("  (nginx is not installed: no static-tree comparison)")
    if "page" in mode:
        page = mode["page"]
        figures = page["servers"]
        lines.append(
            f"project page, {page['files']} files, {page['clients']} clients"
            f" ({page['rounds']} periods) {'pages/s (min-max)':>22}"
            f" {'p50 ms':>8} {'p99 ms':>8} {'x pypiserver':>13}"
        )
        for name, figure in figures.items():
            times = format_ratio(
                1.0 if name == "pypiserver" else found["page"]["feedhouse/pypiserver per_second"]
            )
            lines.append(
                f"  {LABELS[name]:<50} {_spread(figure['per_second'], '', 1):>22}"
                f" {figure['p50_ms']['median']:>8.0f} {figure['p99_ms']['median']:>8.0f} {times:>13}"
            )
        cpu = ", ".join(f"{LABELS[n]} {f['client_cpu_percent']:.0f}%" for n, f in figures.items())
        lines.append(f"  (the load generator's own CPU, of one core: {cpu})")
    if "memory" in mode:
        memory = mode["memory"]
        peaks = ", ".join(f"+{u['peak_over_baseline_mib']:.0f}" for u in memory["uploads"])
        after = [u["rss_after_over_baseline_mib"] for u in memory["uploads"]]
        lines.append(
            f"upload of a {memory['file_mib']:.0f} MiB wheel x {len(memory['uploads'])}, Feedhouse over"
            f" its idle {memory['baseline_mib']:.0f} MiB: peaks {peaks} MiB (at most"
            f" {format_ratio(found['memory']['upload peak/file (worst)'])} the file); RSS after"
            f" {after[0]:+.0f} -> {after[-1]:+.0f} MiB (growth {memory['rss_growth_mib']:+.0f} MiB)"
        )
        if "concurrent" in memory:
            step = memory["concurrent"]
            lines.append(
                f"  {step['uploads']} at once: peak +{step['peak_over_baseline_mib']:.0f} MiB"
                f" ({format_ratio(step['peak_per_file'])} one file)"
            )
        download = memory["download"]
        seconds = download["seconds"]
        line = (
            f"download of it (stream mode): Feedhouse {_spread(seconds['feedhouse'], 's', 2)},"
            f" peak +{download['peak_over_baseline_mib']['median']:.0f} MiB"
            f" ({format_ratio(found['memory']['download peak/file'])} the file)"
        )
        if "nginx" in seconds:
            times = format_ratio(found["memory"]["download time feedhouse/nginx"])
            line += f"; nginx {_spread(seconds['nginx'], 's', 3)}: Feedhouse takes {times}"
        lines.append(line)
    if "requests" in mode:
        title = "requests one after another on one connection (Feedhouse)"
        lines.append(f"{title:<52} {'median ms':>10} {'p95 ms':>8}")
        for label, figure in mode["requests"].items():
            lines.append(f"  {label:<50} {figure['median_ms']:>10.2f} {figure['p95_ms']:>8.2f}")
    return "\n".join(lines)
