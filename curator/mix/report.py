"""`curator mix report`: Markdown + PNG of a FIT.json (token curves, ratio law with the eps band, CMR(T))."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curator.mix.fit_file import read_fit


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _cmr_plot(fit: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from curator.mix.cmr import CMRFit, truncated_heldout

    law = CMRFit.from_json(fit["fit"])
    data, eps = law.data, fit["eps"]
    cut = truncated_heldout(law, fit["heldout"]["truncated"].get("frac", 0.5), eps)
    part = cut.get("part")
    fig, ax = plt.subplots(2, 2, figsize=(11, 8))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(data.ratios)))
    for g, r in enumerate(data.ratios):
        t = data.tokens[g]
        dense = np.linspace(t.min(), t.max(), 100)
        for a, ys, at, pat in (
            (ax[0, 0], data.dl_gen, law.gen_at, part and part.gen_at),
            (ax[0, 1], data.dl_dom, law.dom_at, part and part.dom_at),
        ):
            held = t > cut.get("frac", 1) * data.token_scale if part else np.zeros(len(t), bool)
            a.scatter(t[~held], ys[g][~held], color=colors[g], s=12)
            a.scatter(t[held], ys[g][held], facecolors="none", edgecolors=colors[g], s=20)
            a.plot(dense, at(dense, g), color=colors[g], label=f"R={r:g}")
            if part and g < len(part.data.ratios):
                a.plot(dense, pat(dense, g), color=colors[g], ls=":", lw=1)
    ax[0, 0].set(
        title="general increment vs tokens\n(hollow: held out; dotted: fit on the first part)",
        xlabel="tokens since CPT start",
        ylabel=f"dL loss:{data.general}",
    )
    ax[0, 0].axhline(eps, color="red", lw=0.8, ls="--")
    ax[0, 1].set(title="domain loss increment vs tokens", xlabel="tokens", ylabel=f"dL loss:{data.domain_eval}")
    ax[0, 1].legend(fontsize=7)
    a, s, b = law.ratio_law(data.token_scale)
    gens = [float(law.gen_at(data.token_scale, g)) for g in range(len(data.ratios))]
    rr = np.linspace(0, 1, 200)
    ax[1, 0].scatter(data.ratios, gens, color="k", s=14, label="token law at T_max")
    ax[1, 0].plot(rr, a * rr**s + b, label=f"ratio law {a:.3g} R^{s:.3g} + {b:.3g}")
    ax[1, 0].axhspan(-1, eps, color="green", alpha=0.1, label=f"within eps={eps:g}")
    ax[1, 0].axvline(fit["cmr"]["value"], color="red", ls="--", label=f"CMR {fit['cmr']['value']:.3f}")
    ax[1, 0].set(
        title="general increment vs ratio at the last tokens",
        xlabel=f"R = w:{data.domain}",
        ylim=(min(gens + [0]) - 0.02, max(gens) + 0.02),
    )
    ax[1, 0].legend(fontsize=7)
    curve = fit["curve"]
    ax[1, 1].plot(curve["tokens"], curve["cmr"], "o-", ms=3, label="CMR(T) from the laws")
    if curve["law"]:
        tt = np.asarray(curve["tokens"])
        ax[1, 1].plot(
            tt,
            curve["law"]["a4"] * (tt / data.token_scale) ** curve["law"]["s4"] + curve["law"]["b3"],
            "--",
            label="CMR law a4 T^s4 + b3",
        )
    ax[1, 1].set(title="CMR vs tokens", xlabel="tokens", ylabel="CMR", ylim=(0, 1))
    ax[1, 1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _mix_plot(fit: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(fit["targets"])
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 4), squeeze=False)
    for a, name in zip(axes[0], names, strict=True):
        h = fit["heldout"][name]
        y, p = np.asarray(h["actual"]), np.asarray(h["oof"])
        a.scatter(y, p, s=10)
        lim = [min(y.min(), p.min()), max(y.max(), p.max())]
        a.plot(lim, lim, color="grey", lw=0.8)
        a.set(
            title=f"loss:{name}  Spearman {h['spearman']:.3f}", xlabel="actual", ylabel=f"predicted ({h['folds']}-fold)"
        )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(fit_path: str | Path, out: str | Path) -> dict[str, Path]:
    """Write report.md and report.png for a FIT.json into folder `out`; returns their paths."""
    fit = read_fit(fit_path)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    png, md = out / "report.png", out / "report.md"
    lines = [f"# Mixing-law fit: {fit['law']} (version {fit['law_version']})", "", f"Runs: `{fit['source']}`", ""]
    if fit["law"] == "cmr":
        _cmr_plot(fit, png)
        q, c = fit["quality"], fit["cmr"]
        ci = f" (90% bootstrap {c['ci90'][0]:.3f}-{c['ci90'][1]:.3f})" if c["ci90"] else ""
        lines += [
            f"CMR at {c['tokens']:,.0f} tokens, eps {fit['eps']:g} nats: **{c['value']:.3f}**{ci}"
            + (f" - {c['clamped']}" if c["clamped"] else ""),
            "",
            "| law | R^2 | RMSE (nats) | form |",
            "|---|---|---|---|",
        ]
        for name in ("domain", "general"):
            form = fit["forms"][name][0]
            lines.append(
                f"| {name} | {q[name]['r2']:.4f} | {q[name]['rmse']:.4f} | {form['terms']} s={form['exponents']} |"
            )
        lines += ["", "| held-out check | values |", "|---|---|"]
        for key, res in fit["heldout"].items():
            lines.append(f"| {key} | " + ", ".join(f"{k} {_fmt(v)}" for k, v in res.items()) + " |")
    else:
        _mix_plot(fit, png)
        lines += ["| target | weight | R^2 | k-fold Spearman (90% CI) | k-fold MAE |", "|---|---|---|---|---|"]
        for name, weight in fit["targets"].items():
            h, q = fit["heldout"][name], fit["quality"][name]
            lo, hi = h["spearman_ci90"]
            lines.append(
                f"| loss:{name} | {weight:.3g} | {q['r2']:.4f} | {h['spearman']:.3f} ({lo:.3f}-{hi:.3f}) "
                f"| {h['mae']:.4f} |"
            )
    lines += ["", f"![plots]({png.name})", ""] + [f"- note: {n}" for n in fit.get("notes", [])]
    md.write_text("\n".join(lines) + "\n")
    return {"markdown": md, "png": png}
