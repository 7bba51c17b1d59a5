"""Reproduce the structural equation models of Sharimova (2020) from the published numbers.

    python examples/thesis/run.py                   # everything, 1,000 bootstrap replicates
    python examples/thesis/run.py --bootstrap 200   # fewer replicates

The raw data were not published.  The script rebuilds the CFA-implied item correlation matrix
from the published standardized CFA (reconstruct.py), fits the CFA and the two structural models
to it with N = 391 and AMOS's likelihood (chi-square = (N - 1) F_ML, lavaan's
likelihood="wishart"), and prints every published number next to the reproduced one.  The
bootstrap of the indirect effects runs on thesis_synthetic.csv, raw data with exactly the same
moments (synthetic.py).  README.md explains each table and each discrepancy.
"""

from __future__ import annotations

import argparse
from functools import lru_cache

import numpy as np
import pandas as pd

import sem_engine as se
from sem_engine import fit_measures as fm

import comparison
from reconstruct import MODELS, implied_correlation, load_model, load_published
from synthetic import CSV, load_synthetic

LIKELIHOOD = "wishart"   # AMOS: S with divisor N - 1, chi-square = (N - 1) F_ML
REPLICATES = 1000        # as in the thesis
SEED = 2020


@lru_cache(maxsize=None)
def fit_models() -> dict:
    """The CFA, original and revised models fitted to the CFA-implied correlation matrix."""
    published = load_published()
    r = implied_correlation(published)
    return {name: se.sem(load_model(name), sample_cov=r, sample_nobs=published["n"], likelihood=LIKELIHOOD)
            for name in MODELS}


def bootstrap(n: int, batch_size: int | None = None):
    """The revised model fitted to the synthetic raw data, and n bootstrap replicates of it
    (``batch_size``: replicates refitted at once, default the package's)."""
    fit = se.sem(load_model("revised"), data=load_synthetic(), likelihood=LIKELIHOOD)
    return fit.bootstrap(n, seed=SEED, batch_size=batch_size)


def synthetic_check(published: dict) -> float:
    """Largest absolute difference between the correlation matrix of thesis_synthetic.csv and
    the CFA-implied one."""
    r = implied_correlation(published)
    data = load_synthetic()[list(r.columns)]
    return float(np.abs(np.corrcoef(data.to_numpy(), rowvar=False) - r.to_numpy()).max())


def show(title: str, table: pd.DataFrame, note: str = "", digits: int = 3) -> None:
    print(f"\n== {title} ==")
    print(table.to_string(float_format=lambda v: f"{v:.{digits}f}", na_rep=""))
    if note:
        print(note)


def published_fit_measures(published: dict) -> pd.DataFrame:
    """RMSEA, its 90% interval and Hoelter's CN recomputed from each published chi-square and df,
    with n = N - 1 = 390 (AMOS) and n = N = 391 (lavaan's default), next to the printed values."""
    n = published["n"]
    rows = []
    for key in ("cfa", "original_structural_model", "revised_structural_model"):
        p = published[key]
        for label, m in (("N-1", n - 1), ("N", n)):
            lo, hi = fm.rmsea_ci(p["chisq"], p["df"], m)
            rows.append((key.split("_")[0], label, p["rmsea"], fm.rmsea(p["chisq"], p["df"], m),
                         *p["rmsea_ci"], lo, hi))
    table = pd.DataFrame(rows, columns=["model", "n", "rmsea_published", "rmsea", "ci_lower_published",
                                        "ci_upper_published", "ci_lower", "ci_upper"])
    cn = published["cfa"]["hoelter_cn"]
    hoelter = pd.DataFrame(
        [(label, cn["0.05"], fm.cn(published["cfa"]["chisq"], published["cfa"]["df"], m, 0.05),
          cn["0.01"], fm.cn(published["cfa"]["chisq"], published["cfa"]["df"], m, 0.01))
         for label, m in (("N-1", n - 1), ("N", n))],
        columns=["n", "cn_05_published", "cn_05", "cn_01_published", "cn_01"])
    return table.set_index(["model", "n"]), hoelter.set_index("n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", type=int, default=REPLICATES, metavar="N",
                        help=f"bootstrap replicates of the indirect effects (default {REPLICATES})")
    parser.add_argument("--batch-size", type=int, default=None, metavar="B",
                        help="replicates refitted at once (default: the package's choice)")
    args = parser.parse_args(argv)

    published = load_published()
    fits = fit_models()
    print(f"Sharimova (2020), AMOS 25, ML, N = {published['n']}: published vs reproduced by sem_engine")
    print("Input: the CFA-implied item correlation matrix rebuilt from the published standardized CFA;"
          f" likelihood={LIKELIHOOD!r}")

    rmsea, hoelter = published_fit_measures(published)
    show("AMOS's sample size convention: RMSEA and its 90% CI recomputed from the published chi-square and df",
         rmsea, "(both n = N - 1 and n = N round to the printed values)", digits=4)
    show("Hoelter's critical N of the CFA, recomputed from the published chi-square", hoelter,
         "(AMOS truncates CN to an integer: only n = N - 1 = 390 gives the printed 287 and 319,\n"
         " so AMOS's chi-square is (N - 1) F_ML: likelihood='wishart')", digits=1)
    show("Factorability of each construct's items (Tables 4.7-4.8)",
         comparison.factorability(published, implied_correlation(published)),
         "(published from the raw items; reproduced from the implied correlations, which omit\n"
         " whatever the CFA did not capture)", digits=3)
    show("Models: size and chi-square", comparison.model_sizes(published, fits),
         "(the raw-data chi-squares need the unpublished data; the CFA fits its own implied matrix exactly)")
    show("Chi-square differences", comparison.chisq_differences(published, fits),
         f"(tolerance: {comparison.TOLERANCES['chisq_diff']:.0%} of the published difference)")
    show("Standardized loadings", comparison.loadings(published, fits),
         "(CFA: exact by construction; structural models: the thesis's loadings move away from its own CFA\n"
         " loadings, e.g. KSH2 .726 -> .78, which only the raw data can reproduce: README, Discrepancies)")
    show("Standardized structural paths", comparison.paths(published, fits),
         f"(tolerance: {comparison.TOLERANCES['path']})")
    show("R² of the endogenous factors", comparison.r2(published, fits), f"(tolerance: {comparison.TOLERANCES['r2']})")
    show("Reliability of the CFA constructs", comparison.reliability(published, fits["cfa"]),
         "(CR: Fornell-Larcker from the standardized loadings, residual covariances ignored; the thesis's\n"
         " .90 and .70 do not follow from its own loadings.  alpha: published from the raw items,\n"
         " reproduced from the implied correlations)")
    show("Fornell-Larcker: sqrt(AVE) and factor correlations", comparison.fornell_larcker(published, fits["cfa"]))
    show("Standardized effects of KSHSE in the revised model (Table 4.14)", comparison.effects(published, fits["revised"]),
         f"(tolerance: {comparison.TOLERANCES['effect']})")

    print(f"\n{CSV.name}: {published['n']} rows; largest |sample correlation - implied correlation|"
          f" = {synthetic_check(published):.1e}")
    boot = bootstrap(args.bootstrap, args.batch_size)
    print(f"Bootstrap: the revised model fitted to {CSV.name} (chisq = {boot.fit.chisq:.3f}, as on"
          f" the matrix), {boot.n - boot.n_failed} of {boot.n} replicates successful (seed {SEED})")
    show("Standardized indirect effects: bootstrap intervals", comparison.bootstrap_intervals(published, boot),
         "(published: AMOS, 1,000 replicates, bias-corrected, level not printed (AMOS's default: 90%);\n"
         " reproduced: normal synthetic data with the implied moments, so the intervals are the normal-theory\n"
         " ones, not those of the thesis's skewed 1-3 and 1-5 items)")


if __name__ == "__main__":
    main()
