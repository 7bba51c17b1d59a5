#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## Reference fixtures for sem_engine's robust ML (estimator = "MLM", "MLR",
## "MLMV", "MLMVS"; complete data, and MLR with missing = "ml"), produced by
## lavaan.  Run from the repository root:
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
## hs_cfa with equal loadings within each factor (3 restrictions): nested in hs_cfa
HS_EQUAL <- paste("visual =~ x1 + a*x2 + a*x3", "textual =~ x4 + b*x5 + b*x6",
                  "speed =~ x7 + c*x8 + c*x9", sep = "\n")
## Holzinger-Swineford with values deleted at random (make_missing_fixtures.R): x1-x9 (12%), and
## x1-x6 and the covariate ageyr (10%; lavaan drops the 39 rows missing ageyr under fixed.x)
HS_MISSING <- read.csv("tests/reference/missing/hs_missing.csv")
MIMIC_MISSING <- read.csv("tests/reference/missing/mimic_missing.csv")
FIML_OPTS <- list(missing = "ml", em.h1.tol = 1e-12, em.h1.iter.max = 10000L)
HS_SATURATED <- "f =~ x1 + x2 + x3"   # df = 0 (one row with none of x1-x3 is dropped)

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
                              data = read.csv("tests/reference/mediation/data.csv"), opts = list()),
  hs_cfa_equal         = list(model = HS_EQUAL, fun = "cfa", data = HS, opts = list()),
  ## FIML with the EM (h1) moments iterated to convergence: lavaan's default em.h1.tol = 1e-5
  ## (largest change of any moment) leaves them ~5e-6 short, which moves the robust RMSEA by
  ## 2e-5 (relative) and its close-fit p-value by 4e-4
  hs_fiml              = list(model = model_text("hs_cfa"), fun = "sem", data = HS_MISSING,
                              opts = FIML_OPTS),
  mimic_fiml           = list(model = model_text("missing/mimic_fiml"), fun = "sem",
                              data = MIMIC_MISSING, opts = FIML_OPTS),
  hs_fiml_saturated    = list(model = HS_SATURATED, fun = "sem", data = HS_MISSING, opts = FIML_OPTS)
)
ESTIMATORS <- list(
  hs_cfa = c("MLM", "MLR", "MLMV", "MLMVS"),
  hs_cfa_orthogonal = c("MLM", "MLR"),
  hs_cfa_wishart = c("MLM", "MLR"),
  poldem = c("MLM", "MLR", "MLMV", "MLMVS"),
  mediation = c("MLM", "MLR"),
  hs_cfa_equal = c("MLM", "MLR", "MLMV", "MLMVS"),
  hs_fiml = "MLR",
  mimic_fiml = "MLR",
  hs_fiml_saturated = "MLR"
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
writeLines(HS_EQUAL, file.path(OUT, "hs_cfa_equal.lav"))
writeLines(HS_SATURATED, file.path(OUT, "hs_fiml_saturated.lav"))
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
## Satorra (2000) for hs_cfa_equal against hs_cfa: lavTestLRT's default for MLMV and MLMVS (and
## asked for MLM, MLR), with its default scaled.shifted = TRUE: T_d = a (T0 - T1) + b on
## r0 - r1 df, a and b the table's "scale" and "shift" attributes
for (est in c("MLM", "MLR", "MLMVS", "MLMV")) {
  m0 <- FITS[[paste("hs_cfa_equal", est, sep = "_")]]
  m1 <- FITS[[paste("hs_cfa", est, sep = "_")]]
  method <- if (est %in% c("MLMV", "MLMVS")) "default" else "satorra.2000"
  cat("== difference hs_cfa_equal hs_cfa", est, method, "\n")
  lrt <- lavTestLRT(m0, m1, method = method, model.names = c("hs_cfa_equal", "hs_cfa"))
  stopifnot(grepl("satorra.2000", attr(lrt, "heading"), fixed = TRUE))
  rows[[length(rows) + 1]] <- data.frame(
    restricted = "hs_cfa_equal", unrestricted = "hs_cfa", estimator = est, method = "satorra.2000",
    Df_restricted = m0@test[[1]]$df, Df_unrestricted = m1@test[[1]]$df,
    Chisq_restricted = m0@test[[1]]$stat, Chisq_unrestricted = m1@test[[1]]$stat,
    Chisq_diff = lrt[["Chisq diff"]][2], Df_diff = lrt[["Df diff"]][2],
    Pr_gt_Chisq = lrt[["Pr(>Chisq)"]][2], scaling_factor = NA_real_,
    scale = attr(lrt, "scale")[2], shift = attr(lrt, "shift")[2], stringsAsFactors = FALSE)
}
rows <- lapply(rows, function(r) {   # scale and shift exist for satorra.2000 only
  if (is.null(r$scale)) {
    r$scale <- NA_real_
    r$shift <- NA_real_
  }
  r
})
write_df(do.call(rbind, rows), file.path(OUT, "differences.csv"))

versions <- data.frame(package = c("R", "lavaan"),
                       version = c(paste(R.version$major, R.version$minor, sep = "."),
                                   as.character(packageVersion("lavaan"))))
write_df(versions, file.path(OUT, "versions.csv"))
cat("done\n")
