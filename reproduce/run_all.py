"""Run every reproduction script and write the index of figures (``figures/README.md``).

Runs ``train_models.py`` first (the two 3-layer models the figure scripts
share), then one script per paper item, each in its own process, with the
same ``--quick`` / ``--images`` / ``--threads``; then reads every script's
JSON and writes ``README.md`` in the output folder: each figure with the
paper's numbers beside ours and every claim's verdict as the run computed it.
Exits non-zero if any script failed.

Examples::

    python reproduce/run_all.py --quick     # CI: every script in a few minutes
    python reproduce/run_all.py             # the paper's settings; writes figures/README.md
    python reproduce/run_all.py --only fig6_sparsity_vs_error,sec44_denoising
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _common  # noqa: E402
from _stats import VERDICTS  # noqa: E402

#: In paper order; train_models first.
SCRIPTS = ("train_models", "fig1_tokens", "fig2_architecture", "fig3_samples",
           "fig4_patch_filters", "fig5_feature_maps", "fig6_sparsity_vs_error",
           "fig7_fig8_filters", "table1_recognition", "sec44_denoising", "sec45_timings",
           "online_vs_batch")


def main(argv=None):
    ap = _common.parser(__doc__)
    ap.add_argument("--only", default=None, help="comma-separated script names to run")
    ap.add_argument("--index-only", action="store_true",
                    help="only rewrite the index from the JSON files already there")
    args = ap.parse_args(argv)
    out = _common.out_dir(args)
    names = args.only.split(",") if args.only else list(SCRIPTS)
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        ap.error(f"unknown script(s) {unknown}; choose from {', '.join(SCRIPTS)}")
    failed, times = [], {}
    if not args.index_only:
        common = ["--seed", str(args.seed)]
        for flag, v in (("--quick", args.quick), ("--images", args.images),
                        ("--out", args.out), ("--threads", args.threads)):
            if v:
                common += [flag] if v is True else [flag, str(v)]
        for name in names:
            print(f"\n######## {name} {' '.join(common)}", flush=True)
            t0 = time.perf_counter()
            rc = subprocess.call([sys.executable, str(HERE / f"{name}.py"), *common])
            times[name] = time.perf_counter() - t0
            print(f"######## {name}: exit {rc} after {times[name]:.0f} s", flush=True)
            if rc:
                failed.append(name)
    index = write_index(out, quick=args.quick)
    print(f"\nwrote {index}")
    if times:
        print("times: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def write_index(out, quick=False):
    """``<out>/README.md`` from the scripts' JSON files."""
    lines = ["# Figures and numbers of the paper, reproduced",
             "",
             "Written by `python reproduce/run_all.py" + (" --quick" if quick else "") +
             "` from the JSON each script writes; every number and verdict below was "
             "computed by that run (nothing is typed in).  Paper: Zeiler, Krishnan, Taylor, "
             "Fergus, *Deconvolutional Networks*, CVPR 2010.",
             ""]
    counts = dict.fromkeys(VERDICTS, 0)
    for name in SCRIPTS[1:]:
        path = out / f"{name}.json"
        if not path.exists():
            lines += [f"## {name}", "", f"_not run: no `{path.name}`_", ""]
            continue
        d = json.loads(path.read_text())
        lines += [f"## {d.get('item', name)}: `reproduce/{name}.py`", ""]
        if d.get("quick"):
            lines += ["_quick mode (CI): small data, not the paper's settings_", ""]
        for fig in d.get("figures", []):
            full = Path(fig) if Path(fig).is_absolute() else _common.ROOT / fig
            rel = Path(os.path.relpath(full, out))
            lines += [f"![{rel.name}]({rel.as_posix()})", ""]
        rows = d.get("rows", [])
        if rows:
            lines += ["| | paper | numbadn | note |", "|---|---|---|---|"]
            for r in rows:
                lines.append(f"| {r['what']} | {_cell(r.get('paper'))} | {_cell(r.get('ours'))} "
                             f"| {r.get('note', '')} |")
            lines.append("")
        for c in d.get("claims", []):
            if "verdict" not in c:
                raise SystemExit(f"{path} has a claim without a verdict (written before "
                                 f"three-valued verdicts): rerun reproduce/{name}.py")
            counts[c["verdict"]] += 1
            ev = f" ({c['evidence']})" if c.get("evidence") else ""
            test = f"; test: {c['test']}" if c.get("test") else ""
            lines.append(f"- {c['claim']}: **{c['verdict']}**{ev}{test}")
        if d.get("claims"):
            lines.append("")
        settings = d.get("settings")
        if settings:
            lines += ["<details><summary>settings</summary>", "",
                      "\n".join(f"- {k}: {_cell(v)}" for k, v in settings.items()), "",
                      "</details>", ""]
    lines[4:4] = [count_line(counts), ""]
    path = out / "README.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def count_line(counts):
    """'N hold, N do not hold, N not supported, N not judged of M claims in this run.'"""
    plural = {"holds": "hold", "does not hold": "do not hold"}
    return (", ".join(f"{n} {plural.get(v, v)}" for v, n in counts.items())
            + f" of {sum(counts.values())} claims in this run (tests at the level each "
              "claim states; see `reproduce/_stats.py`).")


def _cell(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return ", ".join(_cell(x) for x in v)
    return str(v).replace("|", "/")


if __name__ == "__main__":
    raise SystemExit(main())
