"""Human-readable lines of a DSIR report (stats/NN-dsir_*.json), for `curator run` and `curator dsir`."""

from __future__ import annotations


def dsir_report_lines(report: dict) -> list[str]:
    """A few lines: pool, selection, weight spread and ESS, KL reductions of each selection rule."""
    mode = report.get("weight", "sum")
    chunks = f" over {report['chunk_words']}-token chunks" if mode != "sum" else ""
    lines = [
        f"{report['step']}: {report['docs']:,} documents, {report['eligible']:,} eligible "
        f"(>= {report['min_length']} tokens); target {report['target']['fit_docs']:,} documents fitted, "
        f"{report['target']['heldout_docs']:,} held out; weight {mode}{chunks}"
    ]
    w = report["log_weight"]
    if w["mean"] is not None:
        peaked = " (peaked: a temperature > 1 spreads the choice)" if (w["ess_fraction"] or 0) < 0.01 else ""
        lines.append(
            f"  log weight mean {w['mean']:.1f}, std {w['std']:.1f} nats; ESS {w['ess']:,.1f} "
            f"of {report['eligible']:,}{peaked}"
        )
    if "k" in report:
        extra = f", {report['selected_copies']:,} draws" if report["method"] == "replacement" else ""
        lines.append(
            f"  selected {report['selected_docs']:,} of k={report['k']:,} by {report['method']} "
            f"(T={report['temperature']:g}, seed {report['seed']}, ESS at T {report['ess_at_temperature']:,.1f}){extra}"
        )
    kl = report.get("kl", {})
    if "target_from_raw" in kl:
        lines.append(
            f"  KL(held-out target || raw) {kl['target_from_raw']:.4f} nats per document "
            f"({kl['heldout_docs']:,} documents)"
        )
    sel = report.get("kl_selection")
    if sel:
        by = "   ".join(f"{name} {value:+.4f}" for name, value in sel["reduction_by"].items())
        lines.append(f"  KL reduction at k={report['k']:,}: {by}")
        if "per_chunk" in sel:
            by = "   ".join(f"{name} {value:+.4f}" for name, value in sel["per_chunk"]["reduction_by"].items())
            lines.append(
                f"  KL reduction per held-out {report['chunk_words']}-token chunk ({kl['heldout_chunks']:,}): {by}"
            )
    if report.get("note"):
        lines.append(f"  note: {report['note']}")
    return lines
