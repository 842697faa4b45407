"""Fig. 2 / section 3.1 and 4.1: the layers and their connectivity g, drawn from a trained model.

Paper: eq. 3 sums over the maps ``k`` of layer ``l`` with ``g^l_{k,c} = 1``
for each map ``c`` of layer ``l - 1``; "in layer-1 we assume that g is always
1, but in higher layers it will be sparse" (section 3.1, Fig. 2).  Section 4.1:
"The first layer had 9 feature maps fully-connected to the input.  The second
layer had 45 maps: 36 were connected to pairs of maps in the first layer, and
the remainder were singly-connected.  The third layer had 150 feature maps,
each of which was connected to a random pair of second layer feature maps."

Protocol: load the trained model of ``--set`` (``reproduce/train_models.py``;
trained there if missing), read ``net.layers[l].connectivity`` (a (K_l,
K_{l-1}) bool matrix) and count, for every layer, the maps, the inputs per
map, the fraction of ``g`` that is 1, the singly and doubly connected maps,
the distinct input pairs and how many maps below are used
(:func:`connectivity_counts`).  The diagram has one row of boxes per layer
(the image, 9, 45 and all 150 maps, each box showing that map's filter in
pixel space), a line for every ``g = 1`` (layer-2 singles dark, pairs light),
and beside it the matrices ``g`` themselves.  The other set's model is
counted too (both use the same seeds, so the same g is expected).

Examples::

    python reproduce/fig2_architecture.py --quick
    python reproduce/fig2_architecture.py              # the full natural model
    python reproduce/fig2_architecture.py --set city
"""
from __future__ import annotations

import sys
from itertools import combinations
from math import comb
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import _stats as S  # noqa: E402

#: Section 4.1's architecture: maps per layer.
PAPER_MAPS = (9, 45, 150)


def connectivity_counts(g):
    """What a connectivity matrix ``g`` of shape (K_l, K_{l-1}) contains.

    Returns
    -------
    dict with
        ``n_maps``, ``n_inputs``: K_l, K_{l-1};
        ``inputs_per_map``: {number of inputs: number of maps};
        ``fraction``: mean of g;
        ``full``: every map on every input;
        ``n_singles``, ``n_pairs``: maps on exactly 1 / 2 inputs;
        ``distinct_singles``, ``distinct_pairs``: different inputs / input pairs used;
        ``all_pairs``: the pairs are exactly all C(K_{l-1}, 2) pairs, once each;
        ``inputs_used``: maps below that at least one map reads;
        ``max_uses_per_input``: the most maps reading one map below.
    """
    g = np.asarray(g, dtype=bool)
    if g.ndim != 2:
        raise ValueError(f"g has shape {g.shape}: expected (K_l, K_(l-1))")
    K, C = g.shape
    deg = g.sum(axis=1)
    vals, cnts = np.unique(deg, return_counts=True)
    singles = [int(np.flatnonzero(r)[0]) for r in g[deg == 1]]
    pairs = [tuple(int(i) for i in np.flatnonzero(r)) for r in g[deg == 2]]
    uses = g.sum(axis=0)
    return dict(n_maps=K, n_inputs=C,
                inputs_per_map={int(v): int(c) for v, c in zip(vals, cnts)},
                fraction=float(g.mean()), full=bool(g.all()),
                n_singles=int((deg == 1).sum()), n_pairs=int((deg == 2).sum()),
                distinct_singles=len(set(singles)), distinct_pairs=len(set(pairs)),
                all_pairs=len(pairs) == comb(C, 2) and set(pairs) == set(combinations(range(C), 2)),
                inputs_used=int((uses > 0).sum()), max_uses_per_input=int(uses.max()) if C else 0)


def paper_checks(counts):
    """Section 4.1's description, one (text, holds, evidence) per layer, for the
    counts of layers 1, 2, 3 (:func:`connectivity_counts`)."""
    out = []
    c1, c2, c3 = (counts + [None] * 3)[:3]
    if c1 is not None:
        out.append(("layer 1: 9 maps fully connected to the input",
                    c1["n_maps"] == 9 and c1["full"],
                    f"{c1['n_maps']} maps on {c1['n_inputs']} input channel(s), "
                    f"fraction connected {c1['fraction']:.3f}"))
    if c2 is not None:
        out.append(("layer 2: 45 maps, 9 singly connected and 36 on pairs of layer-1 maps "
                    "(every single and every pair once)",
                    c2["n_maps"] == 45 and c2["n_singles"] == 9 and c2["n_pairs"] == 36
                    and c2["distinct_singles"] == c2["n_inputs"] and c2["all_pairs"],
                    f"{c2['n_maps']} maps: {c2['n_singles']} singles "
                    f"({c2['distinct_singles']} distinct), {c2['n_pairs']} pairs "
                    f"({c2['distinct_pairs']} distinct of C({c2['n_inputs']},2) = "
                    f"{comb(c2['n_inputs'], 2)}), fraction connected {c2['fraction']:.3f}"))
    if c3 is not None:
        out.append(("layer 3: 150 maps, each on a pair of layer-2 maps",
                    c3["n_maps"] == 150 and c3["n_pairs"] == 150,
                    f"{c3['n_maps']} maps, inputs per map {c3['inputs_per_map']}, "
                    f"{c3['distinct_pairs']} distinct pairs of {comb(c3['n_inputs'], 2)}, "
                    f"{c3['inputs_used']}/{c3['n_inputs']} layer-2 maps used (each by at most "
                    f"{c3['max_uses_per_input']}), fraction connected {c3['fraction']:.4f}"))
    return out


def draw(net, path, title):
    """The layer diagram (left) and the g matrices (right)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    from matplotlib.collections import LineCollection
    n_layers = net.trained_ or len(net.layers)
    sizes = [net.layers[0].in_channels] + [net.layers[i].n_maps for i in range(n_layers)]
    fig = Figure(figsize=(17, 9.5), dpi=100)
    ax = fig.add_axes((0.01, 0.03, 0.70, 0.90))
    width = 100.0
    # rows in data units with an equal aspect (boxes are square); the 150
    # layer-3 maps alternate between two sub-rows so that each can be wider
    rows_y = [0.0, 22.0, 42.0, 66.0][:n_layers + 1]
    box = {}
    for li, K in enumerate(sizes):
        step = width / K
        stagger = K > 100
        w = 8.0 if li == 0 else min(6.0, 0.85 * step * (2 if stagger else 1))
        for k in range(K):
            y = rows_y[li] + ((k % 2) * (w + 1.0) if stagger else 0.0)
            box[li, k] = (width / 2 if K == 1 else (k + 0.5) * step, y, w)
    # lines for g = 1 (drawn first, under the boxes)
    for li in range(1, n_layers + 1):
        g = net.layers[li - 1].connectivity
        deg = g.sum(axis=1)
        segs, cols = [], []
        for k in range(g.shape[0]):
            xk, yk, wk = box[li, k]
            for c in np.flatnonzero(g[k]):
                xc, yc, wc = box[li - 1, c]
                segs.append([(xk, yk - wk / 2), (xc, yc + wc / 2)])
                cols.append("tab:red" if (li == 2 and deg[k] == 1) else
                            ("tab:blue" if li == 2 else ("0.35" if li == 3 else "tab:green")))
        ax.add_collection(LineCollection(segs, colors=cols, linewidths=0.6 if li == 3 else 0.9,
                                         alpha=0.55 if li == 3 else 0.8, zorder=1))
    # boxes showing each map's filter in pixel space
    for li in range(n_layers + 1):
        pf = None if li == 0 else net.pixel_filters(li)[:, 0]
        for k in range(sizes[li]):
            x, y, w = box[li, k]
            h = w
            if pf is not None:
                t = pf[k]
                t = (t - t.min()) / (np.ptp(t) or 1.0)
                ax.imshow(t, cmap="gray", extent=(x - w / 2, x + w / 2, y - h / 2, y + h / 2),
                          interpolation="nearest", zorder=2, aspect="auto")
            ax.add_patch(Rectangle((x - w / 2, y - h / 2), w, h, fill=pf is None,
                                   facecolor="0.8", edgecolor="k", lw=0.5, zorder=3))
            if li == 0:
                ax.text(x, y, "y", ha="center", va="center", fontsize=12, zorder=4)
    names = ["image y (K0 = %d)" % sizes[0]] + [
        f"layer {li}: {sizes[li]} maps z" for li in range(1, n_layers + 1)]
    for li, name in enumerate(names):
        ax.text(-1.0, rows_y[li], name, ha="right", va="center", fontsize=10)
    ax.text(width / 2, (rows_y[1] + rows_y[2]) / 2,
            "red: layer-2 maps on a single layer-1 map; blue: on a pair", ha="center",
            fontsize=9, color="0.2",
            bbox=dict(facecolor="white", edgecolor="none", alpha=0.8))
    ax.set_xlim(-22, width + 1)
    ax.set_ylim(-6, rows_y[-1] + 6)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=11)
    # the g matrices
    for li in range(1, n_layers + 1):
        g = net.layers[li - 1].connectivity
        top = 0.93 - (li - 1) * 0.31
        axg = fig.add_axes((0.76, top - 0.25, 0.22, 0.25))
        axg.imshow(g.T if g.shape[0] > g.shape[1] else g, cmap="Greys", aspect="auto",
                   interpolation="nearest", vmin=0, vmax=1)
        transposed = g.shape[0] > g.shape[1]
        axg.set_title(f"g of layer {li}: {g.shape[0]} x {g.shape[1]}, "
                      f"{int(g.sum())} ones" + (" (drawn transposed)" if transposed else ""),
                      fontsize=9)
        axg.set_xlabel(f"layer-{li} map k" if transposed else
                       (f"layer-{li - 1} map c" if li > 1 else "input channel c"), fontsize=8)
        axg.set_ylabel((f"layer-{li - 1} map c" if li > 1 else "input channel") if transposed
                       else f"layer-{li} map k", fontsize=8)
        axg.tick_params(labelsize=7)
    fig.savefig(path, dpi=100)


def main(argv=None):
    ap = _common.parser(__doc__)
    ap.add_argument("--set", default="natural", choices=_common.SETS,
                    help="the model to draw (default natural); both are counted")
    args = ap.parse_args(argv)
    _common.set_threads(args)
    out = _common.out_dir(args)
    rep = _common.Report("fig2_architecture", "Fig. 2 / sec. 4.1 connectivity")
    nets, counts = {}, {}
    for s in [args.set] + [t for t in _common.SETS if t != args.set]:
        nets[s] = _common.load_model(args, s)
        counts[s] = [connectivity_counts(la.connectivity_) for la in nets[s].layers]
    net = nets[args.set]
    rep.setting(drawn=args.set, layers=len(net.layers))
    descr = {1: "9, fully connected", 2: "45: 9 singles + 36 pairs", 3: "150, random pairs"}
    for li, c in enumerate(counts[args.set], 1):
        rep.row(f"layer {li}: maps", paper=PAPER_MAPS[li - 1] if li <= 3 else None,
                ours=c["n_maps"])
        rep.row(f"layer {li}: inputs per map {{inputs: maps}}", paper=descr.get(li),
                ours=str(c["inputs_per_map"]))
        rep.row(f"layer {li}: fraction of g connected", ours=c["fraction"],
                note=f"{c['inputs_used']}/{c['n_inputs']} maps below used")
    for text, holds, ev in paper_checks(counts[args.set]):
        o = S.exact(holds, "exact count of the maps and connections in g")
        rep.claim(f"sec. 4.1 ({args.set} model) {text}", o.verdict, ev, o.test)
    other = [t for t in nets if t != args.set][0]
    same = all(np.array_equal(a.connectivity, b.connectivity)
               for a, b in zip(nets[args.set].layers, nets[other].layers))
    ok_other = all(h for _, h, _ in paper_checks(counts[other]))
    o = S.exact(ok_other, "exact count of the maps and connections in g")
    rep.claim(f"sec. 4.1 ({other} model) the same description holds", o.verdict,
              "g identical to the " + args.set + " model's" if same else
              "g differs from the " + args.set + " model's (other random pairs)", o.test)
    path = out / "fig2_architecture.png"
    draw(net, path, f"Fig. 2 / sec. 4.1: the {args.set} model's layers and connectivity g "
                    "(every map drawn, each box its filter in pixel space; lines: g = 1)")
    rep.figure(path)
    rep.finish(args, extra={s: c for s, c in counts.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
