#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## Reference fixtures for sem_engine's full-information ML (missing = "ml"), produced by lavaan.
## Run from the repository root:
##
##     Rscript tests/reference/make_missing_fixtures.R
##
## 1. Deletes values completely at random from Holzinger-Swineford's x1-x9 (seed 1939: each
##    value missing with probability 0.12, rows left with no value dropped) and from Political
##    Democracy (seed 1960, probability 0.08); writes the incomplete data sets.
## 2. Fits each case with missing = "ml" (or the case's own `missing`, "ml.x") (nlminb, then polished by BFGS) and writes its estimates (est, se, z, pvalue; lavaan's
##    default observed information), fit measures, and the EM (H1) moments.
## Writes only into tests/reference/missing/.  Numbers: sprintf("%.17g"); NA is an empty field.
## ---------------------------------------------------------------------------

suppressPackageStartupMessages(library(lavaan))

if (!file.exists("sem_engine") || !file.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_missing_fixtures.R")
}
OUT <- "tests/reference/missing"
options(warn = 1)

source("tests/reference/common.R")

delete_at_random <- function(df, vars, prob, seed) {
  set.seed(seed)
  for (v in vars) df[[v]][runif(nrow(df)) < prob] <- NA
  df[rowSums(!is.na(df[, vars])) > 0, vars]
}

HS <- read.csv("sem_engine/datasets/holzinger_swineford_1939.csv", stringsAsFactors = FALSE)
PD <- read.csv("sem_engine/datasets/political_democracy.csv", stringsAsFactors = FALSE)
hs_missing <- delete_at_random(HS, paste0("x", 1:9), 0.12, 1939)
pd_missing <- delete_at_random(PD, c(paste0("y", 1:8), paste0("x", 1:3)), 0.08, 1960)
write_df(hs_missing, file.path(OUT, "hs_missing.csv"))
write_df(pd_missing, file.path(OUT, "poldem_missing.csv"))
## MIMIC: missing values in a fixed covariate too (lavaan drops those rows under fixed.x = TRUE)
mimic_missing <- delete_at_random(HS[, c(paste0("x", 1:6), "ageyr", "sex")], c(paste0("x", 1:6), "ageyr"),
                                  0.1, 1)
mimic_missing <- cbind(mimic_missing, sex = HS$sex[as.integer(rownames(mimic_missing))])[, c(paste0("x", 1:6), "ageyr", "sex")]
write_df(mimic_missing, file.path(OUT, "mimic_missing.csv"))

HS_MODEL <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
PD_MODEL <- paste(
  "ind60 =~ x1 + x2 + x3",
  "dem60 =~ y1 + y2 + y3 + y4",
  "dem65 =~ y5 + y6 + y7 + y8",
  "dem60 ~ ind60",
  "dem65 ~ ind60 + dem60",
  "y1 ~~ y5", sep = "\n")
MIMIC_MODEL <- paste(
  "visual =~ x1 + x2 + x3",
  "textual =~ x4 + x5 + x6",
  "visual ~ ageyr + sex",
  "textual ~ ageyr + sex", sep = "\n")
CASES <- list(
  hs_fiml = list(model = HS_MODEL, data = hs_missing, opts = list()),
  hs_fiml_expected = list(model = HS_MODEL, data = hs_missing, opts = list(information = "expected")),
  poldem_fiml = list(model = PD_MODEL, data = pd_missing, opts = list()),
  mimic_fiml = list(model = MIMIC_MODEL, data = mimic_missing, opts = list()),
  hs_fiml_mlr = list(model = HS_MODEL, data = hs_missing, opts = list(estimator = "MLR")),
  ## missing = "ml.x": rows with a missing covariate are kept, the covariates modelled jointly
  mimic_fiml_mlx = list(model = MIMIC_MODEL, data = mimic_missing, opts = list(), missing = "ml.x"),
  mimic_fiml_mlx_mlr = list(model = MIMIC_MODEL, data = mimic_missing, opts = list(estimator = "MLR"),
                            missing = "ml.x")
)

## Little's (1988) MCAR test written out here, from lavaan's EM (H1) estimates:
## d2 = sum over patterns of n_k (mean_k - mu_k)' Sigma_k^-1 (mean_k - mu_k), df = sum p_k - p.
little <- function(data, h1) {
  observed <- !is.na(data)
  key <- apply(observed, 1, function(r) paste(as.integer(r), collapse = ""))
  d2 <- 0
  df <- -ncol(data)
  for (k in unique(key)) {
    rows <- data[key == k, , drop = FALSE]
    o <- observed[which(key == k)[1], ]
    d <- colMeans(rows[, o, drop = FALSE]) - h1$mean[o]
    d2 <- d2 + nrow(rows) * as.numeric(t(d) %*% solve(h1$cov[o, o, drop = FALSE]) %*% d)
    df <- df + sum(o)
  }
  data.frame(statistic = d2, df = df, pvalue = pchisq(d2, df, lower.tail = FALSE),
             patterns = length(unique(key)))
}
for (name in names(CASES)) {
  case <- CASES[[name]]
  dir.create(file.path(OUT, name), showWarnings = FALSE)
  writeLines(case$model, file.path(OUT, name, "model.lav"))
  args <- c(list(model = case$model, data = case$data,
                 missing = if (is.null(case$missing)) "ml" else case$missing), case$opts)
  fit <- polish(do.call("sem", args), "sem", args)   # common.R
  pe <- parameterEstimates(fit, ci = FALSE)
  if (is.null(pe$label)) pe$label <- ""
  write_df(pe[, c("lhs", "op", "rhs", "label", "est", "se", "z", "pvalue")],
           file.path(OUT, name, "estimates.csv"))
  fm <- fitMeasures(fit)
  write_df(data.frame(measure = names(fm), value = as.numeric(fm)), file.path(OUT, name, "fit_measures.csv"))
  h1 <- lavInspect(fit, "sampstat")
  write_df(data.frame(variable = names(h1$mean), h1$cov, check.names = FALSE),
           file.path(OUT, name, "h1_cov.csv"))
  write_df(data.frame(variable = names(h1$mean), mean = as.numeric(h1$mean)),
           file.path(OUT, name, "h1_mean.csv"))
  write_df(little(as.matrix(case$data[, names(h1$mean)]), h1), file.path(OUT, name, "little_mcar.csv"))
  cat(name, ": chisq", fm[["chisq"]], "df", fm[["df"]], "logl", fm[["logl"]], "\n")
}
writeLines(c(paste("lavaan", as.character(packageVersion("lavaan"))), R.version.string),
           file.path(OUT, "versions.txt"))
