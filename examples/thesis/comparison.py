"""Published-versus-reproduced tables for the thesis models.

Each function returns a DataFrame with the published value next to the reproduced one (simple
comparisons: columns ``published``, ``reproduced`` and ``difference`` = reproduced - published).
The reproduced numbers come from sem_engine fits to the CFA-implied correlation matrix
(``reconstruct.py``) or, for the bootstrap, to the synthetic raw data; nothing here recomputes
what the package computes (standardized values, R², effects, reliability are the package's).

``TOLERANCES`` states how close each kind of number must come; ``tests/test_thesis.py`` asserts
them and ``run.py`` prints them.  Standardized loadings of the *structural* models carry no
tolerance: they move away from the CFA loadings in the thesis (KSH2 .726 in the CFA, .78 in both
structural models), a change only the unpublished raw data can produce (README, "Discrepancies").
"""

from __future__ import annotations

import pandas as pd

import sem_engine as se

# Absolute tolerance, except "chisq_diff", which is relative.
TOLERANCES = {"path": 0.015, "r2": 0.01, "effect": 0.015, "chisq_diff": 0.10, "ave": 0.005}


def side_by_side(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    """(quantity, published, reproduced) triples -> table with the difference."""
    table = pd.DataFrame(rows, columns=["quantity", "published", "reproduced"]).set_index("quantity")
    table["difference"] = table["reproduced"] - table["published"]
    return table


def std_value(std: pd.DataFrame, lhs: str, op: str, rhs: str) -> float:
    """One standardized estimate (column ``est_std`` of ``fit.standardized()``)."""
    hit = std[(std["lhs"] == lhs) & (std["op"] == op) & (std["rhs"] == rhs)]
    if len(hit) != 1:
        raise KeyError(f"no single row {lhs} {op} {rhs} in the standardized solution")
    return float(hit["est_std"].iloc[0])


def factor_of(published: dict) -> dict[str, str]:
    """Item -> its factor."""
    return {item: factor for factor, items in published["items"].items() for item in items}


def loadings(published: dict, fits: dict) -> pd.DataFrame:
    """Standardized loadings of the three models, published next to reproduced.

    The thesis prints the CFA and revised-model loadings to three decimals (Tables 4.6, 4.15)
    and the original-model loadings to two (Table 4.10).
    """
    factor = factor_of(published)
    sources = {"cfa": published["cfa"]["std_loadings"],
               "original": published["original_structural_model"]["std_loadings_2dp"],
               "revised": published["revised_structural_model"]["std_loadings"]}
    columns = {}
    for model, printed in sources.items():
        std = fits[model].standardized()
        columns[(model, "published")] = pd.Series(printed)
        columns[(model, "reproduced")] = pd.Series(
            {item: std_value(std, factor[item], "=~", item) for item in printed})
    return pd.DataFrame(columns)


def paths(published: dict, fits: dict) -> pd.DataFrame:
    """Standardized structural paths of the original and revised models."""
    rows = []
    for model in ("original", "revised"):
        std = fits[model].standardized()
        for key, value in published[f"{model}_structural_model"]["std_paths"].items():
            lhs, rhs = key.split("~")
            rows.append((f"{model}: {lhs} ~ {rhs}", value, std_value(std, lhs, "~", rhs)))
    return side_by_side(rows)


def r2(published: dict, fits: dict) -> pd.DataFrame:
    """R² of the endogenous factors (KR, KSH) in the original and revised models."""
    rows = []
    for model in ("original", "revised"):
        r2_fit = fits[model].r2()
        for factor, value in published[f"{model}_structural_model"]["r2"].items():
            rows.append((f"{model}: {factor}", value, float(r2_fit[factor])))
    return side_by_side(rows)


def chisq_differences(published: dict, fits: dict) -> pd.DataFrame:
    """Chi-square difference tests (``compare``) of the nested pairs, published next to reproduced.

    Published: differences of the raw-data chi-squares; "revised vs CFA" is not printed in the
    thesis and is computed here from its printed chi-squares.  Reproduced: differences of the
    chi-squares against the CFA-implied matrix Σ̂_CFA, where the CFA's own chi-square is 0.  They
    still compare: in the quadratic approximation of F_ML the raw-data residual S - Σ̂_CFA is
    orthogonal to every direction the CFA can move in, and so to every direction of a structural
    model nested in it, whence F_structural(S) ≈ F_CFA(S) + F_structural(Σ̂_CFA) (the additivity
    of nested discrepancies, Steiger, Shapiro & Browne 1985, Psychometrika 50, 253-263).
    """
    original, revised, cfa = (published[k] for k in ("original_structural_model", "revised_structural_model", "cfa"))
    pairs = {"original vs CFA": ("original", "cfa", original["chisq_diff_vs_cfa"]),
             "revised vs original": ("original", "revised", revised["chisq_diff_vs_original"]),
             "revised vs CFA": ("revised", "cfa", {"chisq": revised["chisq"] - cfa["chisq"],
                                                   "df": revised["df"] - cfa["df"]})}
    rows = []
    for name, (restricted, free, printed) in pairs.items():
        test = se.compare(fits[free], fits[restricted], names=[free, restricted]).loc[restricted]
        rows.append((name, printed["chisq"], test["Chisq_diff"], printed["df"], int(test["Df_diff"]),
                     test["pvalue"]))
    table = pd.DataFrame(rows, columns=["quantity", "published", "reproduced", "df_published", "df", "pvalue"])
    table = table.set_index("quantity")
    table["relative_difference"] = table["reproduced"] / table["published"] - 1.0
    return table


def model_sizes(published: dict, fits: dict) -> pd.DataFrame:
    """npar, df and chi-square of each model: published (raw data) and against the implied matrix."""
    keys = {"cfa": "cfa", "original": "original_structural_model", "revised": "revised_structural_model"}
    rows = []
    for model, key in keys.items():
        printed, fit = published[key], fits[model]
        rows.append((model, printed["npar"], fit.npar, printed["df"], fit.df, printed["chisq"], fit.chisq))
    return pd.DataFrame(rows, columns=["model", "npar_published", "npar", "df_published", "df",
                                       "chisq_published (raw data)", "chisq (implied matrix)"]).set_index("model")


def reliability(published: dict, cfa_fit) -> pd.DataFrame:
    """AVE, composite reliability and alpha per factor, published next to ``fit.reliability()``.

    AVE and CR are the Fornell-Larcker ones (standardized loadings, residual covariances left
    out), the formula the thesis used; alpha comes from the sample matrix the model was fitted to,
    here the CFA-implied correlations, while the thesis computed it from the raw items.
    """
    rel = cfa_fit.reliability(cr_method="fornell_larcker")
    cfa = published["cfa"]
    return pd.DataFrame({
        "ave_published": pd.Series(cfa["ave"]), "ave": rel["ave"],
        "cr_published": pd.Series(cfa["cr_as_printed"]), "cr": rel["cr"],
        "alpha_published": pd.Series(cfa["alpha"]), "alpha": rel["alpha"],
    }).loc[list(published["items"])]


def fornell_larcker(published: dict, cfa_fit) -> pd.DataFrame:
    """Per pair of factors: the correlation and both √AVE, published and reproduced, and whether
    the Fornell-Larcker criterion (both √AVE above |r|) holds in each."""
    pairs = cfa_fit.discriminant_validity().pairs
    cfa = published["cfa"]
    root = cfa["sqrt_ave"]
    rows = []
    for a, b, r, ra, rb, ok in zip(pairs["factor_a"], pairs["factor_b"], pairs["cor"], pairs["sqrt_ave_a"],
                                   pairs["sqrt_ave_b"], pairs["fornell_larcker"]):
        r_pub = cfa["latent_correlations"][f"{a}~~{b}"]
        rows.append((f"{a}-{b}", r_pub, r, root[a], ra, root[b], rb,
                     bool(abs(r_pub) < min(root[a], root[b])), bool(ok)))
    return pd.DataFrame(rows, columns=["pair", "cor_published", "cor", "sqrt_ave_a_published", "sqrt_ave_a",
                                       "sqrt_ave_b_published", "sqrt_ave_b", "criterion_published",
                                       "criterion"]).set_index("pair")


def factorability(published: dict, r: pd.DataFrame) -> pd.DataFrame:
    """KMO and Bartlett's chi-square of each construct's items (Tables 4.7-4.8), published from the
    raw items, reproduced from the items' block of the CFA-implied correlation matrix ``r``."""
    printed = published["factorability"]
    rows = []
    for factor, items in published["items"].items():
        block = r.loc[items, items]
        test = se.bartlett(sample_cov=block, sample_nobs=published["n"])
        rows.append((factor, printed["kmo"][factor], se.kmo(sample_cov=block).overall,
                     printed["bartlett_chisq"][factor][0], test.chisq, printed["bartlett_chisq"][factor][1], test.df))
    return pd.DataFrame(rows, columns=["factor", "kmo_published", "kmo", "bartlett_published", "bartlett",
                                       "df_published", "df"]).set_index("factor")


def effect_key(effect: str, path: str) -> tuple[str, str, str]:
    """("indirect", "KSHSE->NPC->KSH") -> ("indirect", "KSH", "KSHSE"): effect, outcome, cause."""
    names = path.split("->")
    return effect, names[-1], names[0]


def effects(published: dict, revised_fit) -> pd.DataFrame:
    """Standardized direct, indirect and total effects of KSHSE in the revised model (Table 4.14),
    next to ``fit.effects(kind="std.all")``.  With a single mediator the indirect effect of KSHSE
    on KSH (or KR) is the one through NPC."""
    table = revised_fit.effects(kind="std.all").set_index(["effect", "lhs", "rhs"])
    printed = published["revised_structural_model"]["effects_std"]
    rows = [(f"{effect}: {path}", value, float(table.loc[effect_key(effect, path), "est"]))
            for effect, paths in printed.items() for path, value in paths.items()]
    return side_by_side(rows)


# Intervals printed next to AMOS's bias-corrected ones, whose level the thesis does not state
# (AMOS's default is 90%).
INTERVALS = (("bc", 0.90), ("bc", 0.95), ("bca", 0.90), ("bca", 0.95))
AMOS_ROW = "AMOS bc (published)"


def bootstrap_intervals(published: dict, boot) -> pd.DataFrame:
    """Bootstrap SE and intervals of the standardized indirect effects: AMOS's printed row, then
    one row per interval in ``INTERVALS``, from ``boot.fit.effects(kind="std.all", bootstrap=boot)``.

    ``boot``: a bootstrap of the revised model fitted to raw data.
    """
    fit = boot.fit
    tables = {(ci, level): fit.effects(kind="std.all", bootstrap=boot, ci=ci, level=level)
              .set_index(["effect", "lhs", "rhs"]) for ci, level in INTERVALS}
    printed = published["revised_structural_model"]
    rows = []
    for path, amos in printed["bootstrap"]["indirect_ci_std"].items():
        rows.append((path, AMOS_ROW, printed["effects_std"]["indirect"][path], amos["se"], amos["lower"],
                     amos["upper"]))
        for (ci, level), table in tables.items():
            row = table.loc[effect_key("indirect", path)]
            rows.append((path, f"{ci} {level:.0%}", row["est"], row["boot_se"], row["boot_ci_lower"],
                         row["boot_ci_upper"]))
    return pd.DataFrame(rows, columns=["effect", "interval", "est", "boot_se", "lower", "upper"]
                        ).set_index(["effect", "interval"])
