#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## Reference fixtures for sem_engine's robust ML (estimator = "MLM", "MLR",
## "MLMV", "MLMVS"; complete data), produced by lavaan.  Run from the
## repository root:
##
##     Rscript tests/reference/make_robust_fixtures.R
##
## Writes only into tests/reference/robust/ (see README.md there, which it keeps).  Numbers are
## written with sprintf("%.17g"); NA/NaN are empty fields.
## ---------------------------------------------------------------------------

suppressPackageStartupMessages(library(lavaan))

if (!file.exists("sem_engine") || !file.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_robust_fixtures.R")
}
OUT <- "tests/reference/robust"
options(warn = 1)

HS <- read.csv("sem_engine/datasets/holzinger_swineford_1939.csv", stringsAsFactors = FALSE)
PD <- read.csv("sem_engine/datasets/political_democracy.csv", stringsAsFactors = FALSE)
model_text <- function(case) paste(readLines(file.path("tests/reference", case, "model.lav")),
                                   collapse = "\n")

## ------------------------------ writers -------------------------------------
source("tests/reference/common.R")   # fmt(), write_df(), write_matrix(), polish()

## ------------------------------ cases ---------------------------------------
## name -> model text, fitting function, data, extra lavaan options
CASES <- list(
  hs_cfa               = list(model = model_text("hs_cfa"), fun = "cfa", data = HS, opts = list()),
  hs_cfa_orthogonal    = list(model = model_text("hs_cfa"), fun = "cfa", data = HS,
                              opts = list(orthogonal = TRUE)),
  hs_cfa_wishart       = list(model = model_text("hs_cfa"), fun = "cfa", data = HS,
                              opts = list(likelihood = "wishart")),
  poldem               = list(model = model_text("poldem"), fun = "sem", data = PD, opts = list()),
  mediation            = list(model = model_text("mediation"), fun = "sem",
                              data = read.csv("tests/reference/mediation/data.csv"), opts = list())
)
ESTIMATORS <- list(
  hs_cfa = c("MLM", "MLR", "MLMV", "MLMVS"),
  hs_cfa_orthogonal = c("MLM", "MLR"),
  hs_cfa_wishart = c("MLM", "MLR"),
  poldem = c("MLM", "MLR", "MLMV", "MLMVS"),
  mediation = c("MLM", "MLR")
)

## nlminb's default stopping rule leaves Political Democracy's y2~~y4 1.2e-4 short of the
## optimum, which moves robust SEs by 3e-5.  As in make_fixtures.R, every fit is refitted by
## lavaan's BFGS from the nlminb solution with a tight tolerance, and the refit is kept when it
## lowers the objective (the robust quantities are then evaluated at the polished estimates).
fit_case <- function(name, estimator) {
  case <- CASES[[name]]
  args <- c(list(model = case$model, data = case$data, estimator = estimator), case$opts)
  polish(do.call(case$fun, args), case$fun, args)
}

test_table <- function(fit) {
  tests <- lavInspect(fit, "test")
  fields <- c("stat", "df", "pvalue", "scaling.factor", "shift.parameter", "trace.UGamma",
              "trace.UGamma2", "scaling.factor.h1", "scaling.factor.h0")
  rows <- lapply(tests, function(t) {
    vals <- lapply(fields, function(f) if (is.null(t[[f]])) NA_real_ else as.numeric(t[[f]]))
    names(vals) <- fields
    data.frame(test = t$test, vals, stringsAsFactors = FALSE, check.names = FALSE)
  })
  do.call(rbind, rows)
}

dump_fit <- function(fit, dir) {
  dir.create(dir, showWarnings = FALSE, recursive = TRUE)
  pe <- parameterEstimates(fit)
  if (is.null(pe$label)) pe$label <- ""
  pe <- pe[, c("lhs", "op", "rhs", "label", "est", "se", "z", "pvalue", "ci.lower", "ci.upper")]
  write_df(pe, file.path(dir, "estimates.csv"))
  write_matrix(vcov(fit), file.path(dir, "vcov.csv"), "parameter")
  fm <- fitMeasures(fit)
  write_df(data.frame(measure = names(fm), value = as.numeric(fm), stringsAsFactors = FALSE),
           file.path(dir, "fit_measures.csv"))
  write_df(test_table(fit), file.path(dir, "test.csv"))
  opt <- lavInspect(fit, "options")
  keys <- c("estimator", "se", "test", "information", "observed.information", "h1.information",
            "gamma.n.minus.one", "gamma.unbiased", "meanstructure", "fixed.x", "likelihood")
  vals <- vapply(keys, function(k) paste(as.character(opt[[k]]), collapse = ";"), character(1))
  write_df(data.frame(option = keys, value = vals, stringsAsFactors = FALSE),
           file.path(dir, "options.csv"))
}

## regenerate everything but the README
dir.create(OUT, showWarnings = FALSE, recursive = TRUE)
unlink(setdiff(list.files(OUT, full.names = TRUE), file.path(OUT, "README.md")), recursive = TRUE)
FITS <- list()
for (name in names(CASES)) {
  for (est in ESTIMATORS[[name]]) {
    cat("==", name, est, "\n")
    fit <- fit_case(name, est)
    stopifnot(lavInspect(fit, "converged"))
    FITS[[paste(name, est, sep = "_")]] <- fit
    dump_fit(fit, file.path(OUT, paste(name, est, sep = "_")))
  }
  ## Gamma (lavaan's NACOV: divisor N, centred at the sample means) depends only on the data,
  ## the mean structure and the fixed.x covariates; written once per such combination.
  if (name %in% c("hs_cfa", "poldem", "mediation")) {
    g <- lavInspect(FITS[[paste(name, "MLM", sep = "_")]], "gamma")
    write_matrix(g, file.path(OUT, paste0("gamma_", name, ".csv")), "element")
  }
}

## --------------------- scaled chi-square difference tests -------------------
## lavTestLRT(m0, m1, method = ...) with m0 the restricted model; the scaling factor cd of
## the difference comes from lavaan's internal lav_test_diff_* function lavTestLRT calls.
PAIRS <- list(c("hs_cfa_orthogonal", "hs_cfa"))
rows <- list()
for (pair in PAIRS) {
  for (est in c("MLM", "MLR")) {
    m0 <- FITS[[paste(pair[1], est, sep = "_")]]
    m1 <- FITS[[paste(pair[2], est, sep = "_")]]
    for (method in c("satorra.bentler.2001", "satorra.bentler.2010")) {
      cat("== difference", pair[1], pair[2], est, method, "\n")
      lrt <- lavTestLRT(m0, m1, method = method, model.names = pair)
      diff <- if (method == "satorra.bentler.2001") {
        lavaan:::lav_test_diff_SatorraBentler2001(m1, m0)
      } else {
        lavaan:::lav_test_diff_SatorraBentler2010(m1, m0, H1 = FALSE)
      }
      stopifnot(isTRUE(all.equal(as.numeric(diff$T.delta), lrt[["Chisq diff"]][2])))
      rows[[length(rows) + 1]] <- data.frame(
        restricted = pair[1], unrestricted = pair[2], estimator = est, method = method,
        Df_restricted = m0@test[[1]]$df, Df_unrestricted = m1@test[[1]]$df,
        Chisq_restricted = m0@test[[1]]$stat, Chisq_unrestricted = m1@test[[1]]$stat,
        Chisq_diff = lrt[["Chisq diff"]][2], Df_diff = lrt[["Df diff"]][2],
        Pr_gt_Chisq = lrt[["Pr(>Chisq)"]][2], scaling_factor = as.numeric(diff$scaling.factor),
        stringsAsFactors = FALSE)
    }
  }
}
write_df(do.call(rbind, rows), file.path(OUT, "differences.csv"))

versions <- data.frame(package = c("R", "lavaan"),
                       version = c(paste(R.version$major, R.version$minor, sep = "."),
                                   as.character(packageVersion("lavaan"))))
write_df(versions, file.path(OUT, "versions.csv"))
cat("done\n")
