"""One frozen options object holding lavaan's defaults for ``sem()`` and ``cfa()``.

Options are validated here and nowhere else.  Names are lavaan's with ``.`` replaced by ``_``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .errors import ModelError

_CHOICES = {
    "estimator": ("ML", "MLM", "MLMVS", "MLMV", "MLR"),
    "likelihood": ("normal", "wishart"),
    "information": ("expected", "observed"),
    "missing": ("listwise", "ml", "ml.x"),
}


GROUP_EQUAL = ("loadings", "intercepts", "means", "residuals", "residual.covariances",
               "lv.variances", "lv.covariances", "regressions")


@dataclass(frozen=True)
class Options:
    """Settings of one fit.

    ``meanstructure=None`` means lavaan's "default": a mean structure only when the model has
    intercepts (``~ 1``) or the user asked for one.  ``information=None`` means lavaan's default:
    "observed" for ``estimator="MLR"`` and FIML, "expected" otherwise.  ``missing="ml"`` and
    ``"ml.x"`` are FIML; ``"ml.x"`` also keeps rows missing a fixed covariate (moments.py).
    """

    std_lv: bool = False
    orthogonal: bool = False
    fixed_x: bool = True
    meanstructure: bool | None = None
    auto_fix_first: bool = True
    auto_fix_single: bool = True
    auto_var: bool = True
    auto_cov_lv_x: bool = True
    auto_cov_y: bool = True
    int_ov_free: bool = True
    int_lv_free: bool = False
    estimator: str = "ML"
    likelihood: str = "normal"
    information: str | None = None
    missing: str = "listwise"
    level: float = 0.95
    max_iter: int = 500
    grad_tol: float = 1e-9
    group: str | None = None
    group_equal: tuple[str, ...] = ()
    group_partial: tuple[str, ...] = ()

    def __post_init__(self):
        self._check_types()
        if self.information is None:  # lavaan: observed information for MLR and FIML
            observed = str(self.estimator).upper() == "MLR" or str(self.missing).lower() in ("ml", "ml.x")
            object.__setattr__(self, "information", "observed" if observed else "expected")
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if isinstance(value, str):
                value = value.lower() if name != "estimator" else value.upper()
                object.__setattr__(self, name, value)
            if value not in allowed:
                raise ModelError(
                    f"{name}={value!r} is not supported; choose one of {', '.join(map(repr, allowed))}"
                )
        if self.fiml:
            if self.meanstructure is None:  # lavaan: FIML always has a mean structure
                object.__setattr__(self, "meanstructure", True)
            if self.meanstructure is False or self.estimator not in ("ML", "MLR") or self.likelihood != "normal":
                raise ModelError(f'missing="{self.missing}" (FIML) needs estimator="ML" or "MLR", '
                                 'likelihood="normal" and a mean structure')
        if not 0 < self.level < 1:
            raise ModelError(f"level={self.level!r} must lie strictly between 0 and 1")
        self._set_groups()

    def _check_types(self) -> None:
        """Booleans must be bool (a string such as "false" is refused, not read as True), counts
        positive integers, tolerances and levels finite numbers, names strings."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("bool", "bool | None"):
                if isinstance(value, np.bool_):
                    value = bool(value)
                    object.__setattr__(self, f.name, value)
                if not (isinstance(value, bool) or (value is None and f.type == "bool | None")):
                    raise ModelError(f"{f.name}={value!r} must be True or False")
            elif f.name in _CHOICES or f.name == "group":
                if not (isinstance(value, str) or (value is None and f.default is None)):
                    raise ModelError(f"{f.name}={value!r} must be a string")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, (int, np.integer)) or self.max_iter < 1:
            raise ModelError(f"max_iter={self.max_iter!r} must be a whole number of at least 1")
        object.__setattr__(self, "max_iter", int(self.max_iter))
        for name in ("level", "grad_tol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not np.isfinite(value):
                raise ModelError(f"{name}={value!r} must be a finite number")
            object.__setattr__(self, name, float(value))
        if not self.grad_tol > 0:
            raise ModelError(f"grad_tol={self.grad_tol!r} must be positive")

    @property
    def fiml(self) -> bool:
        """Full-information ML: ``missing="ml"`` or ``"ml.x"``."""
        return self.missing in ("ml", "ml.x")

    def _set_groups(self) -> None:
        """group_equal/group_partial as tuples of lavaan's names (a multi-group model's default mean
        structure is set in pipeline.py, which knows the number of groups)."""
        for name in ("group_equal", "group_partial"):
            value = getattr(self, name)
            value = (value,) if isinstance(value, str) else tuple(value or ())
            object.__setattr__(self, name, value)
        kinds = tuple(k.replace("_", ".") for k in self.group_equal)
        unknown = [k for k in kinds if k not in GROUP_EQUAL]
        if unknown:
            raise ModelError(f"group_equal={unknown[0]!r} is not a parameter kind; choose from "
                             f"{', '.join(map(repr, GROUP_EQUAL))}")
        object.__setattr__(self, "group_equal", kinds)


def make_options(**kwargs) -> Options:
    """Build ``Options`` from user keywords, naming any keyword sem_engine does not know."""
    known = {f.name for f in dataclasses.fields(Options)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ModelError(
            f"unknown option(s) {', '.join(unknown)}; known options are {', '.join(sorted(known))}"
        )
    return Options(**kwargs)
