"""Reliability and validity of the constructs of a fitted measurement model.

For a factor f with observed indicators i = 1..k (loadings λ_i, factor variance φ = Var(η_f) from
the model-implied latent covariance, so the total variance of an endogenous factor), S the sample
covariance matrix and Σ̂ the model-implied one restricted to those indicators, and λ*_i, θ*_i the
completely standardized (std.all) loadings and residual variances:

    AVE, Fornell–Larcker   Σλ*² / (Σλ*² + Σθ*)            (= mean λ*² for pure indicators)
    CR,  Fornell–Larcker   (Σλ*)² / ((Σλ*)² + Σθ*)        Fornell & Larcker (1981), J. Marketing
                                                          Research 18, 39–50; residual
                                                          covariances are ignored
    ω (observed total)     (Σλ)² φ / 1ᵀS1                 semTools::compRelSEM() (default obs.var =
                                                          TRUE); Bentler (2009), McDonald (1999)
    ω (implied total)      (Σλ)² φ / 1ᵀΣ̂1                 compRelSEM(obs.var = FALSE) = the omega of
                                                          semTools::reliability(); Raykov (2001)
    AVE (observed)         Σλ² φ / tr S                   semTools::AVE() (default obs.var = TRUE)
    AVE (implied)          Σλ² φ / tr Σ̂                   AVE(obs.var = FALSE) = reliability()'s avevar
    alpha                  k/(k-1) (1 - tr S / 1ᵀS1)      Cronbach (1951); compRelSEM(tau.eq = TRUE)

Both ω include the residual covariances among a factor's indicators (through 1ᵀΣ̂1, or in the data
through 1ᵀS1).  ``cr_method`` chooses the pair (AVE, CR) reported: "fornell_larcker" (the default,
the convention of most applied reports), "omega" (AVE (observed), ω (observed)) or
"omega_implied" (AVE (implied), ω (implied)).  On Holzinger & Swineford's visual factor these give
CR = .626, .612 and .625.

Discriminant validity: the Fornell–Larcker criterion (√AVE of each factor above its correlations
with the others) and the heterotrait–monotrait ratio (Henseler, Ringle & Sarstedt 2015, J. Academy
of Marketing Science 43, 115–135):

    HTMT_fg = mean_{i∈f, j∈g} |r_ij| / sqrt(mean_{i<i'∈f} |r_ii'| · mean_{j<j'∈g} |r_jj'|)

and HTMT2 (Roemer, Schuberth & Henseler 2021, Industrial Management & Data Systems 121) with
geometric means in place of the arithmetic ones, consistent for congeneric indicators.  HTMT2 is
the default here, as in semTools 0.5.6's ``htmt()``; both take absolute correlations, as semTools.
Thresholds: HTMT < .85 (Kline 2011; Henseler et al. 2015), < .90 for conceptually close constructs
(Gold, Malhotra & Segars 2001); AVE ≥ .50 (Fornell & Larcker 1981); CR ≥ .70 (Hair et al.;
Nunnally 1978).

Not computed (NaN, with the reason in the ``note`` column): factors with fewer than two observed
indicators, higher-order factors (indicators that are latent), and AVE and the Fornell–Larcker CR
of a factor with a cross-loading indicator (the other factor's share of that indicator would be
counted as error); ω is still the share of the composite's variance due to this factor, as in
compRelSEM().  The numbers (``reliability_values``) are closed forms in numpy at the estimates, so
no model's reliability is ever compiled.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import pandas as pd

from . import implied, memo, syntax
from .descriptives import alpha_from_sums, complete_rows
from .errors import DataError, ModelError
from .matrices import Spec
from .partable import ParameterTable
from .standardize import KINDS, standardized_values

MEASURES = ("ave_fl", "cr_fl", "ave_obs", "omega_obs", "ave_implied", "omega_implied", "alpha")
CR_METHODS = {  # cr_method -> (AVE measure, CR measure, description printed with the table)
    "fornell_larcker": ("ave_fl", "cr_fl", "Fornell-Larcker (standardized loadings)"),
    "omega": ("ave_obs", "omega_obs", "omega, observed total variance (semTools compRelSEM)"),
    "omega_implied": ("ave_implied", "omega_implied", "omega, model-implied total variance"),
}
AVE_MIN, CR_MIN, HTMT_MAX, HTMT_LIBERAL = 0.50, 0.70, 0.85, 0.90


# -- structure -----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Constructs:
    """Which observed variables measure which factor, as 0/1 matrices over the model's variables.

    ``mask`` (factors x observed variables), ``loadings`` and ``variances`` (factors x table rows:
    the factor's ``=~`` rows to observed variables, and those indicators' variance rows).
    """

    factors: tuple[str, ...]
    indicators: tuple[tuple[str, ...], ...]
    latent_indicators: tuple[tuple[str, ...], ...]
    mask: np.ndarray
    loadings: np.ndarray
    variances: np.ndarray

    @property
    def first_order(self) -> np.ndarray:
        """Factors measured by observed variables only."""
        return np.array([len(o) > 0 and not l for o, l in zip(self.indicators, self.latent_indicators)])

    @property
    def measured(self) -> np.ndarray:
        """First-order factors with at least two indicators: the ones reliability applies to."""
        return self.first_order & (self.mask.sum(axis=1) >= 2)

    @property
    def pure(self) -> np.ndarray:
        """Factors none of whose indicators loads on another factor."""
        shared = self.mask.sum(axis=0) > 1
        return ~(self.mask[:, shared] > 0).any(axis=1)


def constructs(pt: ParameterTable, spec: Spec) -> Constructs:
    """The measurement structure of the parameter table ``pt``."""
    t = pt.table
    factors = spec.eta[:spec.n_lv]
    load = (t["op"] == "=~").to_numpy()
    observed = t["rhs"].isin(spec.ov).to_numpy()
    variance = ((t["op"] == "~~") & (t["lhs"] == t["rhs"])).to_numpy()
    mask = np.zeros((len(factors), spec.p))
    loadings = np.zeros((len(factors), len(t)))
    variances = np.zeros((len(factors), len(t)))
    indicators, latent = [], []
    for f, name in enumerate(factors):
        rows = load & (t["lhs"] == name).to_numpy()
        ind = tuple(t["rhs"][rows & observed])
        indicators.append(ind)
        latent.append(tuple(t["rhs"][rows & ~observed]))
        mask[f, [spec.ov.index(v) for v in ind]] = 1.0
        loadings[f, rows & observed] = 1.0
        variances[f, variance & t["lhs"].isin(ind).to_numpy()] = 1.0
    return Constructs(tuple(factors), tuple(indicators), tuple(latent), mask, loadings, variances)


# -- numbers (numpy, at the estimates: no compiled code) -------------------------------------------
def reliability_values(fit) -> np.ndarray:
    """(factors x MEASURES) array of the formulas in the module docstring, from the fit's
    estimates, standardized values, implied and sample moments.

    NaN where a measure is not defined (see ``Constructs.measured`` and ``.pure``).
    """
    c = constructs(fit.partable, fit.spec)
    n_rows = len(fit.partable.table)
    defined = np.repeat(c.measured[:, None], len(MEASURES), axis=1)
    defined[:, [MEASURES.index(m) for m in ("ave_fl", "cr_fl", "ave_obs", "ave_implied")]] &= c.pure[:, None]
    values = fit.row_values
    st = standardized_values(fit)[0][KINDS.index("std.all")][:n_rows]
    phi = np.diagonal(implied.eta_cov(fit.matrices))[:fit.spec.n_lv]
    sl, sl2, th = c.loadings @ st, c.loadings @ st ** 2, c.variances @ st
    common, common_diag = (c.loadings @ values) ** 2 * phi, (c.loadings @ values ** 2) * phi
    tot_s, tr_s = _sums(c.mask, np.asarray(fit.moments.s))
    tot_h, tr_h = _sums(c.mask, fit.implied_arrays[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.stack([sl2 / (sl2 + th), sl ** 2 / (sl ** 2 + th), common_diag / tr_s, common / tot_s,
                        common_diag / tr_h, common / tot_h,
                        alpha_from_sums(c.mask.sum(axis=1), tr_s, tot_s)], axis=1)
    return np.where(defined, out, np.nan)


def _sums(mask, cov):
    """1ᵀC_f1 and tr C_f of every factor's block of the covariance matrix C."""
    return np.einsum("fi,ij,fj->f", mask, cov, mask), mask @ np.diagonal(cov)


def htmt_values(s, mask, htmt2: bool = True):
    """HTMT (or HTMT2) matrix of the indicator groups ``mask`` (groups x variables, 0/1) from the
    covariance or correlation matrix ``s``.  Mean over distinct pairs i ≠ j; a group with one
    indicator has no monotrait correlations and gives NaN."""
    s, mask = np.asarray(s, dtype=float), np.asarray(mask, dtype=float)
    sd = np.sqrt(np.diagonal(s))
    r = np.abs(s / sd[:, None] / sd[None, :])
    off = 1.0 - np.eye(s.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log(np.where(off > 0, r, 1.0)) if htmt2 else r
        mean = np.einsum("fi,ij,gj->fg", mask, a * off, mask) / np.einsum("fi,ij,gj->fg", mask, off, mask)
        if htmt2:
            mean = np.exp(mean)
        within = np.diagonal(mean)
        return mean / np.sqrt(within[:, None] * within[None, :])


# -- tables --------------------------------------------------------------------------------------
def reliability(fit, cr_method: str = "fornell_larcker") -> pd.DataFrame:
    """One row per factor: n_indicators, ave, cr, omega, alpha, cr_method, note.

    ``ave`` and ``cr`` follow ``cr_method`` ("fornell_larcker", "omega" or "omega_implied"; see the
    module docstring for each formula and its source); ``omega`` is always compRelSEM()'s default
    (observed total variance, residual covariances included); ``alpha`` is coefficient alpha from
    the sample covariance matrix.  The column ``cr_method`` names the formula used, ``note`` says
    why a value is missing or what it leaves out.
    """
    return _reliability_table(fit, constructs(fit.partable, fit.spec), cr_method)


def htmt(fit, htmt2: bool = True) -> pd.DataFrame:
    """Heterotrait–monotrait ratios among the first-order factors, from the sample covariance matrix
    (the data's correlations); HTMT2 (geometric means) unless ``htmt2=False``.  As semTools'
    ``htmt(model, data)``."""
    c = constructs(fit.partable, fit.spec)
    keep = c.first_order
    names = [f for f, k in zip(c.factors, keep) if k]
    values = htmt_values(fit.moments.s, c.mask[keep], htmt2)
    return pd.DataFrame(values, index=pd.Index(names, name="factor"), columns=names)


def htmt_from_data(model: str, data: pd.DataFrame | None = None, *, sample_cov: pd.DataFrame | None = None,
                   htmt2: bool = True) -> pd.DataFrame:
    """HTMT matrix without fitting: the ``=~`` lines of ``model`` define the groups, the
    correlations come from ``data`` (complete rows) or ``sample_cov`` (a covariance or correlation
    matrix with variable names).  As semTools' ``htmt(model, data, sample.cov)``."""
    groups = {}
    for st in syntax.parse(model):
        if isinstance(st, syntax.Formula) and st.op == "=~":
            groups.setdefault(st.lhs, []).extend(term.name for term in st.terms)
    groups = {f: v for f, v in groups.items() if not set(v) & set(groups)}
    if not groups:
        raise ModelError("the model has no factor measured by observed variables (=~ lines)")
    names = list(dict.fromkeys(v for ind in groups.values() for v in ind))
    if (data is None) == (sample_cov is None):
        raise DataError("give either data= (raw data) or sample_cov= (a covariance or correlation matrix)")
    if data is not None:
        _require(names, data.columns, "data")
        s = np.cov(complete_rows(data[names])[0], rowvar=False)
    else:
        _require(names, sample_cov.columns, "sample_cov")
        s = sample_cov.loc[names, names].to_numpy(dtype=np.float64)
    mask = np.array([[float(v in ind) for v in names] for ind in groups.values()])
    values = htmt_values(s, mask, htmt2)
    return pd.DataFrame(values, index=pd.Index(list(groups), name="factor"), columns=list(groups))


@dataclass(frozen=True)
class DiscriminantValidity:
    """``fornell_larcker``: √AVE on the diagonal, factor correlations below it; ``htmt``: the HTMT
    matrix; ``pairs``: one row per pair of factors with the criteria and a flag."""

    fornell_larcker: pd.DataFrame
    htmt: pd.DataFrame
    pairs: pd.DataFrame

    def __str__(self) -> str:
        return (f"Fornell-Larcker criterion (sqrt(AVE) on the diagonal, factor correlations below):\n"
                f"{self.fornell_larcker.round(3).to_string(na_rep='')}\n\n"
                f"Heterotrait-monotrait ratios:\n{self.htmt.round(3).to_string()}\n\n"
                f"Pairs:\n{self.pairs.round(3).to_string(index=False)}")


def discriminant_validity(fit, cr_method: str = "fornell_larcker", htmt2: bool = True) -> DiscriminantValidity:
    """Fornell–Larcker table, HTMT matrix and a per-pair table with cor, √AVE of both factors,
    ``fornell_larcker`` (both √AVE above |r|), ``htmt`` with ``htmt_below_085`` / ``_090`` and a
    text ``flag`` ("" when every criterion is met).  AVE follows ``cr_method``."""
    return _discriminant(fit, constructs(fit.partable, fit.spec), cr_method, htmt2)


def validity_report(fit, cr_method: str = "fornell_larcker", htmt2: bool = True, ave_min: float = AVE_MIN,
                    cr_min: float = CR_MIN, htmt_max: float = HTMT_MAX) -> pd.DataFrame:
    """One row per factor: reliability (alpha, cr, omega, ave), √AVE, the largest |correlation| and
    HTMT with another factor, and whether each meets its threshold (``ave_ok``: AVE ≥ ave_min,
    ``cr_ok``: CR ≥ cr_min, ``fornell_larcker_ok``: √AVE > every |r|, ``htmt_ok``: every HTMT <
    htmt_max); NA where not defined.  The thresholds are in ``.attrs["thresholds"]``."""
    c = constructs(fit.partable, fit.spec)
    rel = _reliability_table(fit, c, cr_method)
    disc = _discriminant(fit, c, cr_method, htmt2)
    out = rel[["n_indicators", "alpha", "cr", "omega", "ave"]].copy()
    out["sqrt_ave"] = np.sqrt(out["ave"])
    out["max_abs_cor"] = _largest_other(_factor_correlations(fit, c, list(disc.htmt.index)).abs()).reindex(out.index)
    out["max_htmt"] = _largest_other(disc.htmt).reindex(out.index)
    out["ave_ok"] = _check(out["ave"], out["ave"] >= ave_min)
    out["cr_ok"] = _check(out["cr"], out["cr"] >= cr_min)
    out["fornell_larcker_ok"] = _check(out["sqrt_ave"] + out["max_abs_cor"],  # NA if either is
                                       out["sqrt_ave"] > out["max_abs_cor"])
    out["htmt_ok"] = _check(out["max_htmt"], out["max_htmt"] < htmt_max)
    out["cr_method"] = rel["cr_method"]
    out["note"] = rel["note"]
    out.attrs = {"cr_method": cr_method, "htmt2": htmt2,
                 "thresholds": {"ave": ave_min, "cr": cr_min, "htmt": htmt_max}}
    return out


def _largest_other(matrix: pd.DataFrame) -> pd.Series:
    """Row maxima of a symmetric factor x factor table, leaving out the diagonal (NaN if none)."""
    values = matrix.to_numpy().copy()
    np.fill_diagonal(values, np.nan)
    return pd.DataFrame(values, index=matrix.index).max(axis=1, skipna=True)


# -- assembly ------------------------------------------------------------------------------------
# The reliability values of a fit, computed once per Fit object: reliability(),
# discriminant_validity() and validity_report() on the same fit share them.
_values = memo.per_object(reliability_values)


def _reliability_table(fit, c: Constructs, cr_method: str) -> pd.DataFrame:
    if cr_method not in CR_METHODS:
        raise ModelError(f"unknown cr_method {cr_method!r}; use one of {', '.join(CR_METHODS)}")
    ave, cr, text = CR_METHODS[cr_method]
    values = _values(fit)
    out = pd.DataFrame({
        "n_indicators": [len(i) + len(l) for i, l in zip(c.indicators, c.latent_indicators)],
        "ave": values[:, MEASURES.index(ave)], "cr": values[:, MEASURES.index(cr)],
        "omega": values[:, MEASURES.index("omega_obs")], "alpha": values[:, MEASURES.index("alpha")],
        "cr_method": text, "note": _notes(fit, c)}, index=pd.Index(c.factors, name="factor"))
    out.attrs = {"cr_method": cr_method}
    return out


def _discriminant(fit, c: Constructs, cr_method: str, htmt2: bool) -> DiscriminantValidity:
    rel = _reliability_table(fit, c, cr_method)
    h = htmt(fit, htmt2)
    names = list(h.index)
    cor = _factor_correlations(fit, c, names).to_numpy()
    root = np.sqrt(rel["ave"].loc[names].to_numpy())
    table = np.where(np.tri(len(names), k=-1) > 0, cor, np.nan)
    np.fill_diagonal(table, root)
    fl = pd.DataFrame(table, index=pd.Index(names, name="factor"), columns=names)
    a, b = np.triu_indices(len(names), 1)  # pairs in model order
    r, ra, rb, hv = cor[a, b], root[a], root[b], h.to_numpy()[a, b]
    pairs = pd.DataFrame({"factor_a": [names[i] for i in a], "factor_b": [names[j] for j in b], "cor": r,
                          "sqrt_ave_a": ra, "sqrt_ave_b": rb,
                          "fornell_larcker": _check(ra + rb, (np.abs(r) < ra) & (np.abs(r) < rb)),
                          "htmt": hv, "htmt_below_085": _check(hv, hv < HTMT_MAX),
                          "htmt_below_090": _check(hv, hv < HTMT_LIBERAL)})
    pairs["flag"] = [_flag(fl_ok, h85, h90) for fl_ok, h85, h90 in
                     zip(pairs["fornell_larcker"], pairs["htmt_below_085"], pairs["htmt_below_090"])]
    return DiscriminantValidity(fl, h, pairs)


def _factor_correlations(fit, c: Constructs, names: list[str]) -> pd.DataFrame:
    """Model-implied correlations of the factors ``names`` (from Var(η) = (I-B)⁻¹Ψ(I-B)⁻ᵀ)."""
    idx = [c.factors.index(f) for f in names]
    cov = np.asarray(implied.eta_cov(fit.matrices))[np.ix_(idx, idx)]
    sd = np.sqrt(np.diag(cov))
    return pd.DataFrame(cov / sd[:, None] / sd[None, :], index=names, columns=names)


def _check(value, condition) -> pd.arrays.BooleanArray:
    """Nullable booleans: NA where ``value`` is NaN."""
    value, condition = np.asarray(value, dtype=float), np.asarray(condition, dtype=bool)
    return pd.array([None if np.isnan(v) else bool(ok) for v, ok in zip(value, condition)], dtype="boolean")


def _flag(fl_ok, h85, h90) -> str:
    """The failed (or undefined) criteria of one pair of factors; "" when all are met."""
    problems = []
    if fl_ok is pd.NA:
        problems.append("Fornell-Larcker not defined (AVE missing)")
    elif not fl_ok:
        problems.append("|r| >= sqrt(AVE)")
    if h85 is pd.NA:
        problems.append("HTMT not defined")
    elif not h90:
        problems.append("HTMT >= .90")
    elif not h85:
        problems.append("HTMT >= .85")
    return "; ".join(problems)


def _notes(fit, c: Constructs) -> list[str]:
    t = fit.partable.table
    rows = t[(t["op"] == "~~") & (t["lhs"] != t["rhs"]) & ((t["free"] > 0) | (t["ustart"].fillna(0) != 0))]
    loads = fit.row_values[np.flatnonzero((t["op"] == "=~").to_numpy())]
    load_of = dict(zip(zip(t["lhs"][t["op"] == "=~"], t["rhs"][t["op"] == "=~"]), loads))
    notes = []
    for f, name in enumerate(c.factors):
        ind, lat = c.indicators[f], c.latent_indicators[f]
        note = []
        if lat and not ind:
            note.append(f"higher-order factor (indicators {', '.join(lat)} are latent): not computed")
        elif lat:
            note.append(f"indicators {', '.join(lat)} are latent: not computed")
        elif len(ind) == 1:
            note.append(f"one indicator ({ind[0]}): AVE, CR, omega, alpha and HTMT need at least two")
        elif not ind:
            note.append("no indicators: not a measured construct")
        cross = [(v, g) for v in ind for g, other in zip(c.factors, c.indicators) if g != name and v in other]
        if cross and not lat:
            note.append("cross-loading " + ", ".join(f"{v} (also on {g})" for v, g in cross)
                        + ": AVE and Fornell-Larcker CR not defined; omega counts this factor's share only")
        within = [f"{a}~~{b}" for a, b in zip(rows["lhs"], rows["rhs"]) if a in ind and b in ind]
        if within and len(ind) >= 2 and not lat:
            note.append(f"residual covariance {', '.join(within)}: omega includes it, the Fornell-Larcker CR "
                        "does not")
        negative = [v for v in ind if load_of[(name, v)] < 0]
        if negative and not lat:
            note.append(f"negative loading {', '.join(negative)}: reverse-code before alpha and CR")
        heywood = [h for h in fit.heywood if h.split("~~")[0] in ind + (name,)]
        if heywood:
            note.append(f"negative variance {', '.join(heywood)} (Heywood case)")
        notes.append("; ".join(note))
    return notes


def _require(names, columns, where) -> None:
    missing = [v for v in names if v not in set(map(str, columns))]
    if missing:
        raise DataError(f"indicators not found in {where}: {', '.join(missing)}")
