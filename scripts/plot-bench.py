#!/usr/bin/python3
"""Plots llmserve-bench result JSON (Debian's python3-matplotlib).

Usage: scripts/plot-bench.py RESULT.json [RESULT.json ...] --out-dir DIR [--prefix NAME]

Each file holds one run point (an object) or a sweep (an array of objects), as
`llmserve-bench --output` writes them. Writes:
  DIR/NAME-cdf.png      latency CDFs (TTFT, TPOT, ITL), one curve per run point
  DIR/NAME-vs-load.png  output tokens/s and p50/p99 TTFT and TPOT against the
                        request rate (open loop) or the concurrency (closed loop)
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load_points(paths):
    points = []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        points.extend(data if isinstance(data, list) else [data])
    return points


def load_of(point):
    """(axis label, x value, curve label) of a run point."""
    if point.get("max_concurrency"):
        c = point["max_concurrency"]
        return "concurrency (requests in flight)", float(c), f"concurrency {c}"
    rate = point["request_rate"]
    x = float("inf") if rate == "inf" else float(rate)
    return "request rate (requests/s, Poisson)", x, f"{rate} req/s"


def cdf(ax, values, label):
    values = sorted(v * 1e3 for v in values if v is not None)
    if not values:
        return
    n = len(values)
    ax.step(values, [(i + 1) / n for i in range(n)], where="post", label=label)


def plot_cdfs(points, path):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for point in points:
        label = load_of(point)[2]
        cdf(axes[0], point["ttfts"], label)
        cdf(axes[1], point["tpots"], label)
        cdf(axes[2], [gap for gaps in point["itls"] for gap in gaps], label)
    for ax, title in zip(axes, ["TTFT", "TPOT", "ITL"]):
        ax.set_title(f"{title} CDF")
        ax.set_xlabel(f"{title} (ms)")
        ax.set_ylabel("fraction of requests" if title != "ITL" else "fraction of gaps")
        ax.grid(True, alpha=0.3)
        ax.set_ylim(0, 1.01)
    axes[2].set_xscale("log")  # gaps span a decode step to a whole prefill wave
    axes[0].legend(fontsize=8)
    fig.suptitle(points[0].get("model_id", ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_vs_load(points, path):
    rows = sorted((load_of(p)[1], p) for p in points)
    finite = [x for x, _ in rows if x != float("inf")]
    # Draw an infinite rate one step beyond the largest finite one.
    inf_x = (max(finite) * 2 if finite else 1.0)
    xs = [inf_x if x == float("inf") else x for x, _ in rows]
    ps = [p for _, p in rows]
    xlabel = load_of(ps[0])[0]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    axes[0].plot(xs, [p["output_throughput"] for p in ps], "o-", label="output tokens/s")
    axes[0].set_ylabel("output tokens/s")
    ax2 = axes[0].twinx()
    ax2.plot(xs, [p["request_throughput"] for p in ps], "s--", color="tab:gray",
             label="requests/s")
    ax2.set_ylabel("completed requests/s")
    axes[0].set_title("throughput")
    for ax, metric in [(axes[1], "ttft"), (axes[2], "tpot")]:
        ax.plot(xs, [p[f"median_{metric}_ms"] for p in ps], "o-", label="p50")
        ax.plot(xs, [p[f"p99_{metric}_ms"] for p in ps], "^-", label="p99")
        ax.set_ylabel(f"{metric.upper()} (ms)")
        ax.set_title(f"{metric.upper()} p50 / p99")
        ax.legend(fontsize=8)
    for ax in axes:
        ax.set_xlabel(xlabel)
        ax.set_xscale("log", base=2)
        ax.grid(True, alpha=0.3)
        ax.set_xticks(xs)
        ax.set_xticklabels(["inf" if x == float("inf") else f"{x:g}" for x, _ in rows])
    fig.suptitle(ps[0].get("model_id", ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="llmserve-bench --output files")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--prefix", default="bench")
    args = parser.parse_args()
    points = load_points(args.results)
    if not points:
        sys.exit("plot-bench: no run points")
    os.makedirs(args.out_dir, exist_ok=True)
    cdf_path = os.path.join(args.out_dir, f"{args.prefix}-cdf.png")
    load_path = os.path.join(args.out_dir, f"{args.prefix}-vs-load.png")
    plot_cdfs(points, cdf_path)
    plot_vs_load(points, load_path)
    print(cdf_path)
    print(load_path)


if __name__ == "__main__":
    main()
