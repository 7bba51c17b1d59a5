#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## Extra reliability / validity fixtures (semTools, lavaan) for sem_engine's
## validity module, beyond tests/reference/validity/.  Run from the repository
## root:
##
##     Rscript tests/reference/make_validity_fixtures.R
##
## Writes only tests/reference/validity_extra/ (rewritten from scratch).
## Numbers with sprintf("%.17g"), NA empty, as make_fixtures.R.
##
## Cases (one folder each):
##   thesis4     simulated 4-factor CFA (14 items) with two residual covariances
##               among the indicators of one factor (att); data.csv is written
##               by this script (3 decimals) and re-read before fitting.
##   crossload_single
##               HS3 with a cross-loading (visual =~ x9) and x6 moved to a factor
##               of its own (single =~ x6, which semTools leaves out).
##   two_outcomes, mimic
##               the models of tests/reference/<case>/ (endogenous factors;
##               phantom latent variables for the covariates in mimic).
## Files per case: model.lav, AVE.csv, AVE_obs_var_false.csv, compRelSEM.csv,
## compRelSEM_obs_var_false.csv, compRelSEM_tau_eq.csv (factor,value; factors
## semTools leaves out are absent, NA empty), htmt.csv, htmt_htmt2_false.csv
## (symmetric, first column factor; not for crossload_single: semTools' htmt()
## stops on a cross-loading indicator), cor_lv.csv (lavInspect(fit, "cor.lv"),
## first column factor), std_all.csv (standardizedSolution: lhs,op,rhs,est_std),
## fit.csv (measure,value: chisq, df).
## ---------------------------------------------------------------------------

suppressPackageStartupMessages({
  library(lavaan)
  library(semTools)
})

if (!file.exists("sem_engine") || !file.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_validity_fixtures.R")
}
options(warn = 1)
RNGkind("Mersenne-Twister", "Inversion", "Rejection")

OUT <- "tests/reference/validity_extra"
unlink(OUT, recursive = TRUE)
dir.create(OUT, recursive = TRUE, showWarnings = FALSE)
HS <- read.csv("sem_engine/datasets/holzinger_swineford_1939.csv", stringsAsFactors = FALSE)

source("tests/reference/common.R")  # fmt(), write_df()

write_vec <- function(v, path) {
  write_df(data.frame(factor = names(v), value = as.numeric(v), stringsAsFactors = FALSE), path)
}

write_mat <- function(m, path) {
  m <- matrix(as.numeric(m), nrow(m), dimnames = dimnames(m))
  df <- data.frame(factor = rownames(m), m, check.names = FALSE, stringsAsFactors = FALSE)
  write_df(df, path)
}

dump_case <- function(name, model, data) {
  dir <- file.path(OUT, name)
  dir.create(dir, showWarnings = FALSE)
  p <- function(s) file.path(dir, s)
  writeLines(model, p("model.lav"))
  ## lavaan's default nlminb tolerance (rel.tol = 1e-10) leaves the estimates ~1e-6 from the
  ## optimum (the reliabilities up to 9e-7 here); a tighter one makes nlminb report false
  ## convergence on thesis4
  fit <- sem(model, data = data)
  if (!lavInspect(fit, "converged")) stop(name, ": lavaan did not converge")
  write_vec(AVE(fit), p("AVE.csv"))
  write_vec(AVE(fit, obs.var = FALSE), p("AVE_obs_var_false.csv"))
  write_vec(compRelSEM(fit), p("compRelSEM.csv"))
  write_vec(compRelSEM(fit, obs.var = FALSE), p("compRelSEM_obs_var_false.csv"))
  write_vec(compRelSEM(fit, tau.eq = TRUE), p("compRelSEM_tau_eq.csv"))
  ## htmt() selects data[, indicators] with repeats, so a cross-loading indicator makes its
  ## correlation matrix singular and it stops: no htmt files for such a model
  if (!anyDuplicated(lavNames(fit, "ov.ind")) && !any(duplicated(
        subset(parTable(fit), op == "=~")$rhs))) {
    write_mat(htmt(model, data = data), p("htmt.csv"))
    write_mat(htmt(model, data = data, htmt2 = FALSE), p("htmt_htmt2_false.csv"))
  }
  write_mat(lavInspect(fit, "cor.lv"), p("cor_lv.csv"))
  std <- standardizedSolution(fit, type = "std.all")
  write_df(data.frame(lhs = std$lhs, op = std$op, rhs = std$rhs, est_std = std$est.std,
                      stringsAsFactors = FALSE), p("std_all.csv"))
  write_df(data.frame(measure = c("chisq", "df"),
                      value = as.numeric(fitMeasures(fit, c("chisq", "df")))), p("fit.csv"))
  cat(sprintf("== %s: chisq %.3f on %d df\n", name, fitMeasures(fit, "chisq"),
              as.integer(fitMeasures(fit, "df"))))
}

## ---- thesis4: simulated 4-factor CFA with residual covariances in one factor
simulate_thesis4 <- function() {
  set.seed(20240517)
  n <- 350
  phi <- matrix(c(1.00, 0.45, 0.35, 0.55,
                  0.45, 1.00, 0.30, 0.40,
                  0.35, 0.30, 1.00, 0.50,
                  0.55, 0.40, 0.50, 1.00), 4)
  eta <- matrix(rnorm(n * 4), n) %*% chol(phi)
  loadings <- list(att = c(0.80, 0.75, 0.70, 0.65), norm = c(0.70, 0.80, 0.60, 0.75),
                   control = c(0.75, 0.70, 0.65), intent = c(0.85, 0.80, 0.70))
  prefix <- c(att = "a", norm = "n", control = "c", intent = "i")
  cols <- list()
  for (k in seq_along(loadings)) {
    f <- names(loadings)[k]
    for (j in seq_along(loadings[[f]])) {
      lam <- loadings[[f]][j]
      cols[[paste0(prefix[[f]], j)]] <- 3 + lam * eta[, k] + sqrt(1 - lam^2) * rnorm(n)
    }
  }
  X <- as.data.frame(cols)
  shared1 <- rnorm(n) * 0.35          # method effects: a1 with a2, a3 with a4
  shared2 <- rnorm(n) * 0.30
  X$a1 <- X$a1 + shared1; X$a2 <- X$a2 + shared1
  X$a3 <- X$a3 + shared2; X$a4 <- X$a4 + shared2
  dir.create(file.path(OUT, "thesis4"), showWarnings = FALSE)
  path <- file.path(OUT, "thesis4", "data.csv")
  con <- file(path, open = "wb")
  writeLines(c(paste(names(X), collapse = ","),
               do.call(paste, c(lapply(X, function(v) sprintf("%.3f", v)), sep = ","))),
             con, sep = "\n")
  close(con)
  read.csv(path)
}

THESIS4 <- "att =~ a1 + a2 + a3 + a4
norm =~ n1 + n2 + n3 + n4
control =~ c1 + c2 + c3
intent =~ i1 + i2 + i3
a1 ~~ a2
a3 ~~ a4"

CROSSLOAD_SINGLE <- "visual =~ x1 + x2 + x3 + x9
textual =~ x4 + x5
speed =~ x7 + x8 + x9
single =~ x6"

read_model <- function(case) paste(readLines(file.path("tests/reference", case, "model.lav")),
                                   collapse = "\n")

dump_case("thesis4", THESIS4, simulate_thesis4())
dump_case("crossload_single", CROSSLOAD_SINGLE, HS)
dump_case("two_outcomes", read_model("two_outcomes"), HS)
dump_case("mimic", read_model("mimic"), HS)
cat("\nall cases OK\n")
