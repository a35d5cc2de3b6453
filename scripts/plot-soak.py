#!/usr/bin/python3
"""Plots a soak's resource samples (Debian's python3-matplotlib).

Usage: scripts/plot-soak.py SOAK.csv --out soak.png [--title TEXT] [--warmup-s SECONDS]

SOAK.csv is what scripts/soak.sh samples every 10 s (SOAK_OUT/soak.csv):
t_s, rss_kb, threads, fds of the server. Draws RSS (MiB) over time on top and
threads and open file descriptors below; a dashed line marks the end of the
warm-up (default: 20 % of the last sample's time, as soak.sh judges it) and a
dotted one the +5 % RSS limit over the first sample after it.
"""
import argparse
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--title", default="llmserve soak")
    parser.add_argument("--warmup-s", type=float, default=None,
                        help="end of the warm-up in seconds (default: 20 %% of the run)")
    args = parser.parse_args()
    with open(args.csv) as f:
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    if len(rows) < 2:
        sys.exit(f"plot-soak: {args.csv} has fewer than 2 samples")
    t = [r["t_s"] / 60 for r in rows]
    rss = [r["rss_kb"] / 1024 for r in rows]
    warmup = args.warmup_s if args.warmup_s is not None else 0.2 * rows[-1]["t_s"]
    after = [r for r in rows if r["t_s"] >= warmup]

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    top.plot(t, rss, marker=".", color="tab:blue", label="RSS")
    if after:
        limit = after[0]["rss_kb"] / 1024 * 1.05
        top.axhline(limit, color="tab:red", linestyle=":", label="+5 % over the post-warm-up baseline")
    top.axvline(warmup / 60, color="gray", linestyle="--", label="end of warm-up")
    top.set_ylabel("server RSS (MiB)")
    top.set_ylim(bottom=0, top=max(rss) * 1.25)
    top.legend(loc="lower right")
    top.set_title(args.title)
    top.grid(alpha=0.3)

    bottom.plot(t, [r["threads"] for r in rows], marker=".", color="tab:green", label="threads")
    bottom.plot(t, [r["fds"] for r in rows], marker=".", color="tab:orange", label="open fds")
    bottom.axvline(warmup / 60, color="gray", linestyle="--")
    bottom.set_xlabel("time (min)")
    bottom.set_ylabel("count")
    bottom.set_ylim(bottom=0)
    bottom.legend(loc="lower right")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"plot-soak: wrote {args.out}")


if __name__ == "__main__":
    main()
