#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## Extra lavaan reference output for the fit measures and compare() tests.
## Run from the repository root:
##
##     Rscript tests/reference/make_fit_measures_fixtures.R
##
## Writes only into tests/reference/fit_measures_extra/ (rewritten from scratch but README.md):
##   <case>/model.lav, case.json      the fit, in the format of the core cases
##   <case>/fit_measures.csv          fitMeasures(fit), names '.' -> '_'
##   <case>/sample_cov.csv, sample_mean.csv, implied_cov.csv, implied_mean.csv
##   lrt_three_models.csv             lavTestLRT of three nested HS models
## Numbers are written with sprintf("%.17g"); NA is an empty field.
## ---------------------------------------------------------------------------

suppressPackageStartupMessages(library(lavaan))
source("tests/reference/common.R")  # polish()

if (!file.exists("sem_engine") || !file.exists("tests/reference")) {
  stop("run this script from the repository root")
}
OUT <- "tests/reference/fit_measures_extra"
HS_CSV <- "sem_engine/datasets/holzinger_swineford_1939.csv"
PD_CSV <- "sem_engine/datasets/political_democracy.csv"
HS <- read.csv(HS_CSV)
PD <- read.csv(PD_CSV)

fmt <- function(x) { out <- sprintf("%.17g", as.numeric(x)); out[is.na(x)] <- ""; out }

write_lines <- function(lines, path) {
  con <- file(path, open = "wb"); on.exit(close(con))
  writeLines(lines, con, sep = "\n")
}
write_pairs <- function(names, values, header, path) {
  write_lines(c(header, paste(names, fmt(values), sep = ",")), path)
}
write_matrix <- function(m, path) {
  m <- unclass(m)
  rows <- vapply(seq_len(nrow(m)), function(i) paste(c(rownames(m)[i], fmt(m[i, ])), collapse = ","),
                 character(1))
  write_lines(c(paste(c("variable", colnames(m)), collapse = ","), rows), path)
}

## nlminb's default stopping rule can stop short of the optimum by more than the tests' 1e-6;
## every fit is refitted by BFGS from the nlminb solution with a tight tolerance and the refit
## kept when it lowers the objective (common.R's polish, as make_fixtures.R does).
fit_polished <- function(fun, args) {
  fit <- do.call(fun, args)
  stopifnot(lavInspect(fit, "converged"))
  polish(fit, fun, args)
}

run_case <- function(case, model, data_path, data, options, notes) {
  cat(sprintf("== %s\n", case))
  dir <- file.path(OUT, case)
  dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  args <- c(list(model = model, data = data), options)
  names(args) <- sub("_", ".", names(args), fixed = TRUE)
  fit <- fit_polished("sem", args)
  write_lines(model, file.path(dir, "model.lav"))
  opts <- vapply(names(options), function(n) {
    v <- options[[n]]
    sprintf("    \"%s\": %s", n, if (is.logical(v)) tolower(v) else sprintf("\"%s\"", v))
  }, character(1))
  write_lines(c("{", "  \"function\": \"sem\",", sprintf("  \"data\": \"%s\",", data_path),
                "  \"sample_cov\": null,", "  \"sample_mean\": null,", "  \"sample_nobs\": null,",
                "  \"options\": {", paste(opts, collapse = ",\n"), "  },",
                sprintf("  \"notes\": \"%s\"", notes), "}"),
              file.path(dir, "case.json"))
  fm <- fitMeasures(fit)
  write_pairs(gsub(".", "_", names(fm), fixed = TRUE), fm, "measure,value",
              file.path(dir, "fit_measures.csv"))
  ss <- lavInspect(fit, "sampstat")
  imp <- lavInspect(fit, "implied")
  write_matrix(ss$cov, file.path(dir, "sample_cov.csv"))
  write_matrix(imp$cov, file.path(dir, "implied_cov.csv"))
  mean <- if (is.null(ss$mean)) fit@SampleStats@mean[[1]] else ss$mean
  write_pairs(lavNames(fit, "ov"), mean, "variable,mean", file.path(dir, "sample_mean.csv"))
  if (!is.null(imp$mean))
    write_pairs(names(imp$mean), imp$mean, "variable,mean", file.path(dir, "implied_mean.csv"))
  invisible(fit)
}

dir.create(OUT, showWarnings = FALSE)
unlink(setdiff(list.files(OUT, full.names = TRUE), file.path(OUT, "README.md")), recursive = TRUE)

MIMIC <- paste("visual =~ x1 + x2 + x3", "textual =~ x4 + x5 + x6",
               "visual ~ sex + ageyr", "textual ~ sex + ageyr", sep = "\n")
PATH <- paste("y1 ~ x1 + x2", "y5 ~ y1 + x1", sep = "\n")

run_case("mimic_free_x", MIMIC, HS_CSV, HS, list(fixed_x = FALSE),
         "fixed.x=FALSE: sex and ageyr moments are free parameters; baseline keeps their covariance free")
run_case("mimic_meanstructure", MIMIC, HS_CSV, HS, list(meanstructure = TRUE),
         "fixed.x=TRUE with a mean structure: covariate means fixed at the sample means")
run_case("poldem_path_wishart", PATH, PD_CSV, PD, list(likelihood = "wishart"),
         "fixed.x covariates under likelihood='wishart' (N-1 conventions)")

## a three-model chi-square difference test on HS (sorted by df by lavaan)
HS3 <- paste("visual =~ x1 + x2 + x3", "textual =~ x4 + x5 + x6", "speed =~ x7 + x8 + x9",
             sep = "\n")
cat("== lrt_three_models\n")
f_orth <- fit_polished("cfa", list(model = HS3, data = HS, orthogonal = TRUE))
f_cfa <- fit_polished("cfa", list(model = HS3, data = HS))
f_rescov <- fit_polished("cfa", list(model = paste(HS3, "x2 ~~ x3", "x7 ~~ x8", sep = "\n"),
                                      data = HS))
lrt <- lavTestLRT(f_cfa, f_rescov, f_orth,
                  model.names = c("hs_cfa", "hs_cfa_rescov", "hs_cfa_orthogonal"))
cols <- c("Df", "AIC", "BIC", "Chisq", "Chisq diff", "RMSEA", "Df diff", "Pr(>Chisq)")
body <- vapply(seq_len(nrow(lrt)), function(i) {
  paste(c(rownames(lrt)[i], fmt(unlist(lrt[i, cols]))), collapse = ",")
}, character(1))
write_lines(c("model,Df,AIC,BIC,Chisq,Chisq_diff,RMSEA,Df_diff,Pr_gt_Chisq", body),
            file.path(OUT, "lrt_three_models.csv"))
