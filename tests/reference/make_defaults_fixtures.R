#!/usr/bin/env Rscript
## Reference fixtures for tests/test_defaults.py (issue 24): lavaan's parameter-table defaults
## for indicators regressed on covariates, modification indices under FIML, the FIML baseline
## with free covariates and free correlated covariates, fitted by lavaan 0.6.14.  Run from the
## repository root:
##
##     Rscript tests/reference/make_defaults_fixtures.R
##
## Writes tests/reference/defaults/<case>_estimates.csv (lhs op rhs free est se),
## <case>_fit.csv (measure value) and, for the FIML cases, <case>_mi.csv (lhs op rhs mi epc),
## numbers with sprintf("%.17g").  The incomplete data are tests/reference/missing's.
suppressPackageStartupMessages(library(lavaan))
source("tests/reference/common.R")
hs <- read.csv("sem_engine/datasets/holzinger_swineford_1939.csv")
hs_missing <- read.csv("tests/reference/missing/hs_missing.csv")
mimic_missing <- read.csv("tests/reference/missing/mimic_missing.csv")
out <- "tests/reference/defaults"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
MEASURES <- c("npar", "chisq", "df", "baseline.chisq", "baseline.df", "cfi", "tli", "rmsea", "srmr",
              "logl", "aic", "bic")
write_case <- function(name, model, args, mi = FALSE) {
  args <- c(list(model = model), args)
  fit <- polish(do.call("sem", args), "sem", args)
  stopifnot(lavInspect(fit, "converged"))
  pt <- parTable(fit)
  pe <- parameterEstimates(fit)
  pe$free <- pt$free[match(paste(pe$lhs, pe$op, pe$rhs), paste(pt$lhs, pt$op, pt$rhs))] > 0
  write_df(pe[, c("lhs", "op", "rhs", "free", "est", "se")], file.path(out, paste0(name, "_estimates.csv")))
  fm <- fitMeasures(fit, MEASURES)
  write_df(data.frame(measure = names(fm), value = unname(as.numeric(fm))),
           file.path(out, paste0(name, "_fit.csv")))
  if (mi) {
    m <- modindices(fit)
    write_df(m[, c("lhs", "op", "rhs", "mi", "epc")], file.path(out, paste0(name, "_mi.csv")))
  }
  cat(name, ": npar", fm[["npar"]], "chisq", fm[["chisq"]], "df", fm[["df"]], "\n")
}
## An indicator regressed on a covariate is not one of auto.cov.y's endogenous variables: no
## visual ~~ x3 (a MIMIC model with a direct effect; free covariates, std.lv).
write_case("mimic_direct", "visual =~ x1 + x2 + x3\nvisual ~ ageyr + agemo\nx3 ~ ageyr",
           list(data = hs, std.lv = TRUE, fixed.x = FALSE))
write_case("indicator_regression", "visual =~ x1 + x2 + x3\nvisual ~ ageyr\nx3 ~ ageyr", list(data = hs))
## FIML modification indices: a one-df model (every candidate's MI equals) and the 3-factor CFA.
write_case("fiml_one_df", "visual =~ x1 + x2 + 0.5*x3", list(data = hs_missing, missing = "ml"), mi = TRUE)
write_case("fiml_three_factor", "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9",
           list(data = hs_missing, missing = "ml"), mi = TRUE)
## The FIML baseline keeps the free covariates' block (fixed.x = FALSE, a covariate with holes).
write_case("fiml_free_x", "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nvisual ~ ageyr + sex\ntextual ~ ageyr",
           list(data = mimic_missing, missing = "ml", fixed.x = FALSE))
## Free covariates correlated .72: their start values must be a positive definite block.
write_case("correlated_covariates", "x1 ~ x5 + x6", list(data = hs, fixed.x = FALSE))
writeLines(c(paste("lavaan", as.character(packageVersion("lavaan"))), R.version.string),
           file.path(out, "versions.txt"))
