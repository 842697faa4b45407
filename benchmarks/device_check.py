"""The many-core check (1 to 16 threads, a batch of 64, 16 Dask workers), one script:
``benchmarks/device_check.sh``.

Three measurements, each in fresh processes with ``NUMBA_NUM_THREADS`` set to the
largest thread count asked for, written into one JSON (``figures/device_check.json``;
``--smoke``: ``figures/quick/``) and a short table (the same name, ``.txt``):

1. ``numbadn bench --quick --no-contention --threads 1,2,4,8,16`` (kernels' share of
   the measured FMA peak, the paper's schedule on one 150x150 image);
2. FISTA to 1% on a batch of 64 150x150 photographs (9 unit-norm random 7x7 filters,
   lambda 1, float32; the images of :mod:`benchmarks.fista_variants`): numbadn at
   each thread count, with its default step (backtracking) and the fixed spectral
   step of before, each stopped after the median iterations that reach 1% of the
   decrease on 4 of the images (their optima by long float64 runs); PyTorch FISTA
   as users write it (``conv2d`` / ``conv_transpose2d``, fixed step from power
   iteration, the iterations of numbadn's fixed step) on the CPU at the largest
   thread count and on the GPU (batches of 64 and 1024) where PyTorch and a GPU
   are present; skipped, with the reason, where not;
3. ``python -m benchmarks.distributed --quick --workers 16`` (its own JSON; the
   tail of its output is kept here).

``--smoke``: 40x40 images, a batch of 4, threads 1,2, ``numbadn bench --smoke``,
``benchmarks.distributed --smoke --workers 2``: seconds, for the test suite.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

try:
    from . import _util
except ImportError:  # ``python benchmarks/device_check.py``
    import _util

#: Seconds a step may run before it is stopped (the whole check must fit in 6 minutes
#: on 16 cores); the smoke run allows for compiling the kernels on a busy 2-core machine.
STEP_TIMEOUT = 300
SMOKE_STEP_TIMEOUT = 600


def _run(cmd, env, timeout):
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                              cwd=_util.ROOT)
        rc, out = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as e:
        rc, out = "timeout", (e.stdout or b"").decode(errors="replace") if isinstance(
            e.stdout, bytes) else (e.stdout or "")
    return dict(cmd=" ".join(cmd), rc=rc, seconds=time.perf_counter() - t0,
                tail=out[-4000:])


def _env(nmax):
    return _util.child_env({"NUMBA_NUM_THREADS": str(nmax), "NUMBADN_ADAPTIVE_THREADS": "0"})


# ----------------------------------------------------------------------------- FISTA batch
def fista_child(size, n, threads, n_ref):
    """In a child process: FISTA to 1% on the batch (see the module docstring)."""
    from numbadn import cost, infer
    from benchmarks.fista_variants import images
    from benchmarks._problems import unit_filters
    threads = [int(t) for t in threads.split(",")]
    size, n, n_ref = int(size), int(n), int(n_ref)
    f = unit_filters().astype(np.float32)
    Ys = images(n, size)
    Y = np.concatenate([y[None] for y in Ys])
    res = dict(n=n, size=size, threads=threads, numbadn={}, iterations={})
    # iterations to 1% of the decrease, per step rule, median over n_ref images
    for lip in ("backtracking", "spectral"):
        its = []
        for y in Ys[:n_ref]:
            y64, f64 = y.astype(np.float64), f.astype(np.float64)
            zs = infer(y64, f64, solver="fista", tol=1e-9, max_iter=3000)
            cs, c0 = cost(y64, zs, f64), cost(y64, 0 * zs, f64)
            _, st = infer(y, f, solver="fista", lipschitz=lip, tol=0.0, max_iter=300,
                          return_stats=True)
            gap = (np.array([s.cost for s in st]) - cs) / (c0 - cs)
            hit = np.nonzero(gap <= 1e-2)[0]
            its.append(st[hit[0]].iteration if hit.size else 300)
        res["iterations"][lip] = int(np.ceil(np.median(its)))
    for lip in ("backtracking", "spectral"):
        rows = {}
        for nt in threads:
            kw = dict(solver="fista", lipschitz=lip, max_iter=res["iterations"][lip], tol=0.0,
                      n_threads=nt)
            infer(Y, f, **kw)
            ts = []
            for _ in range(1 if size < 150 else 3):
                t0 = time.perf_counter()
                infer(Y, f, **kw)
                ts.append(time.perf_counter() - t0)
            rows[nt] = float(np.median(ts)) / n * 1e3
        res["numbadn"][lip] = rows
    res["torch"] = torch_batch(Y, f, res["iterations"]["spectral"], max(threads), size)
    return res


def torch_batch(Y, f, n_iter, n_threads, size):
    """PyTorch FISTA (fixed step) on the batch: ms per image on the CPU and GPU."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        return dict(skipped=f"PyTorch not installed ({e})")
    out = dict(version=torch.__version__)

    def run(dev, batch):
        yt = torch.from_numpy(np.ascontiguousarray(Y)).to(dev)
        if batch > len(Y):
            yt = yt.repeat((batch + len(Y) - 1) // len(Y), 1, 1, 1)[:batch]
        wt = torch.from_numpy(np.ascontiguousarray(
            f[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))).to(dev)
        K1, h, w = f.shape[0], f.shape[2], f.shape[3]
        shape = (yt.shape[0], K1, yt.shape[2] + h - 1, yt.shape[3] + w - 1)
        with torch.inference_mode():
            v = torch.randn((1,) + shape[1:], generator=torch.Generator().manual_seed(0)).to(dev)
            for _ in range(50):
                v = F.conv_transpose2d(F.conv2d(v, wt), wt)
                v /= v.norm()
            L = float((F.conv_transpose2d(F.conv2d(v, wt), wt) * v).sum())

            def solve():
                z = torch.zeros(shape, device=dev)
                x, t = z.clone(), 1.0
                for _ in range(n_iter):
                    grad = F.conv_transpose2d(F.conv2d(x, wt) - yt, wt)
                    z_new = F.softshrink(x - grad / L, 1.0 / L)
                    t_new = 0.5 * (1.0 + (1.0 + 4.0 * t * t) ** 0.5)
                    x = z_new + ((t - 1.0) / t_new) * (z_new - z)
                    z, t = z_new, t_new
                if dev != "cpu":
                    torch.cuda.synchronize()
            solve()
            ts = []
            for _ in range(3):
                t0 = time.perf_counter()
                solve()
                ts.append(time.perf_counter() - t0)
        return float(np.median(ts)) / shape[0] * 1e3

    torch.set_num_threads(n_threads)
    out["cpu"] = {f"batch {len(Y)}, {n_threads} thr": run("cpu", len(Y))}
    if torch.cuda.is_available():
        out["gpu_name"] = torch.cuda.get_device_name(0)
        out["gpu"] = {f"batch {b}": run("cuda", b) for b in (len(Y), 16 * len(Y))}
    else:
        out["gpu"] = dict(skipped="no CUDA device")
    return out


# ----------------------------------------------------------------------------- main
def table(result):
    """The short table of the check (lines)."""
    lines = []
    b = result.get("bench", {}).get("json")
    if b:
        peaks = {int(k): v for k, v in b["peaks"].items()}
        lines.append("kernels, % of the measured peak (conv_valid / conv_full / Az):")
        for layer in sorted({r["layer"] for r in b["kernels"]}):
            cells = []
            for nt in sorted(peaks):
                pf = {r["kernel"]: r["peak_fraction"] for r in b["kernels"]
                      if r["layer"] == layer and r["threads"] == nt}
                cells.append(f"{nt} thr " + " / ".join(
                    f"{100 * pf[k]:.0f}" for k in ("conv_valid", "conv_full", "Az") if k in pf))
            lines.append(f"  {layer}: " + "; ".join(cells))
        lines.append("paper schedule, one image, ms (layer 1 / 2 / 3):")
        for nt in sorted(peaks):
            ms = [r["seconds"] * 1e3 for r in sorted(b["inference"], key=lambda r: r["layer"])
                  if r["threads"] == nt]
            lines.append(f"  {nt} thr: " + " / ".join(f"{v:.2f}" for v in ms))
    fb = result.get("fista_batch", {}).get("json")
    if fb:
        lines.append(f"FISTA to 1%, batch of {fb['n']} {fb['size']}x{fb['size']}, ms per image "
                     f"(iterations: {fb['iterations']}):")
        for lip, rows in fb["numbadn"].items():
            lines.append(f"  numbadn {lip}: " + ", ".join(
                f"{nt} thr {v:.3f}" for nt, v in rows.items()))
        t = fb["torch"]
        if "skipped" in t:
            lines.append(f"  PyTorch: skipped ({t['skipped']})")
        else:
            for dev in ("cpu", "gpu"):
                d = t.get(dev, {})
                lines.append(f"  PyTorch {dev}: " + (f"skipped ({d['skipped']})" if "skipped" in d
                             else ", ".join(f"{k} {v:.3f}" for k, v in d.items())))
    d = result.get("distributed")
    if d:
        lines.append(f"distributed ({d['cmd']}): exit {d['rc']} in {d['seconds']:.0f} s")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="a tiny version in seconds (tests)")
    ap.add_argument("--threads", default=None, help="thread counts (default 1,2,4,8,16)")
    ap.add_argument("--workers", type=int, default=None, help="distributed workers (16)")
    ap.add_argument("--out", default=None, help="folder of the outputs (default figures/)")
    args = ap.parse_args(argv)
    smoke = args.smoke
    threads = args.threads or ("1,2" if smoke else "1,2,4,8,16")
    nmax = max(int(t) for t in threads.split(","))
    workers = args.workers or (2 if smoke else 16)
    out_dir = _util.default_out(argparse.Namespace(out=args.out, quick=False, smoke=smoke))
    out_dir.mkdir(parents=True, exist_ok=True)
    env = _env(nmax)
    limit = SMOKE_STEP_TIMEOUT if smoke else STEP_TIMEOUT
    t_start = time.perf_counter()
    result = dict(settings=dict(smoke=smoke, threads=threads, workers=workers),
                  machine=dict(cpus=os.cpu_count(), load_start=os.getloadavg()[0]),
                  versions=_util.versions())
    with tempfile.TemporaryDirectory() as tmp:
        bj = os.path.join(tmp, "bench.json")
        cmd = [sys.executable, "-m", "numbadn", "bench", "--no-contention", "--threads", threads,
               "--json", bj, "--smoke" if smoke else "--quick"]
        print("1. " + " ".join(cmd[2:]), flush=True)
        result["bench"] = _run(cmd, env, limit)
        if os.path.exists(bj):
            with open(bj) as fh:
                result["bench"]["json"] = json.load(fh)
        size, n, n_ref = (40, 4, 1) if smoke else (150, 64, 4)
        code = (f"import json; from benchmarks.device_check import fista_child; "
                f"print(json.dumps(fista_child({size}, {n}, {threads!r}, {n_ref})))")
        print(f"2. FISTA to 1%, batch of {n}", flush=True)
        result["fista_batch"] = _run([sys.executable, "-c", code], env, limit)
        try:
            result["fista_batch"]["json"] = json.loads(
                result["fista_batch"]["tail"].strip().splitlines()[-1])
        except (ValueError, IndexError):
            pass
        cmd = [sys.executable, "-m", "benchmarks.distributed", "--smoke" if smoke else "--quick",
               "--workers", str(workers), "--out", str(out_dir)]
        print("3. " + " ".join(cmd[2:]), flush=True)
        result["distributed"] = _run(cmd, _util.child_env({"NUMBADN_ADAPTIVE_THREADS": "0"}),
                                     limit)
    result["wall_seconds"] = time.perf_counter() - t_start
    lines = table(result) + [f"wall time {result['wall_seconds']:.0f} s on "
                             f"{os.cpu_count()} CPUs"]
    print("\n".join(lines))
    _util.write_json(result, out_dir / "device_check.json")
    (out_dir / "device_check.txt").write_text("\n".join(lines) + "\n")
    print(f"wrote {out_dir / 'device_check.json'} and device_check.txt")
    ok = all(result[k]["rc"] == 0 for k in ("bench", "fista_batch"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
