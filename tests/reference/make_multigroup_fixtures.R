#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## Reference fixtures for sem_engine's multi-group models and measurement invariance, produced by
## lavaan (and semTools for reliability and compareFit).  Run from the repository root:
##
##     Rscript tests/reference/make_multigroup_fixtures.R
##
## Data: sem_engine/datasets/holzinger_swineford_1939.csv grouped by `school` (lavaan's group order
## is the order of first appearance: Pasteur, then Grant-White).  Every case is fitted by nlminb and
## then polished by BFGS from that solution (common.R).  Writes only into
## tests/reference/multigroup/ (see README.md there, which it keeps).  Numbers: sprintf("%.17g");
## NA/NaN are empty fields.
## ---------------------------------------------------------------------------

suppressPackageStartupMessages({
  library(lavaan)
  library(semTools)
})

if (!file.exists("sem_engine") || !file.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_multigroup_fixtures.R")
}
OUT <- "tests/reference/multigroup"
DATA_CSV <- "sem_engine/datasets/holzinger_swineford_1939.csv"
options(warn = 1)

source("tests/reference/common.R")   # fmt(), write_df(), write_matrix(), polish_gain()

HS <- read.csv(DATA_CSV, stringsAsFactors = FALSE)
stopifnot(identical(HS$school, as.character(HolzingerSwineford1939$school)),
          identical(as.matrix(HS[, paste0("x", 1:9)]),
                    as.matrix(HolzingerSwineford1939[, paste0("x", 1:9)])))
GROUPS <- unique(HS$school)          # lavaan's order: first appearance in the data
X <- paste0("x", 1:9)

write_json <- function(x, path) {
  con <- file(path, open = "wb")
  on.exit(close(con))
  writeLines(jsonlite::toJSON(x, auto_unbox = TRUE, pretty = TRUE, null = "null", digits = NA),
             con, sep = "\n")
}
write_text <- function(lines, path) {
  con <- file(path, open = "wb")
  on.exit(close(con))
  writeLines(lines, con, sep = "\n")
}
write_vector <- function(v, path, cols = c("variable", "mean")) {
  df <- data.frame(names(v), as.numeric(v), stringsAsFactors = FALSE)
  names(df) <- cols
  write_df(df, path)
}

## ------------------------------ cases ---------------------------------------
HS3 <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
MODIFIERS <- paste(
  "visual =~ x1 + c(a1, a1)*x2 + c(1, NA)*x3",
  "textual =~ x4 + x5 + x6",
  "speed =~ x7 + x8 + c(b1, b2)*x9",
  "diff := b1 - b2", sep = "\n")
SEM_GROUPS <- paste(
  "visual =~ x1 + x2 + x3",
  "textual =~ x4 + x5 + x6",
  "visual ~ ageyr",
  "textual ~ visual + ageyr", sep = "\n")

## per-group moments for the summary-statistics case (cov(): divisor N-1, as sample.cov expects)
by_school <- split(HS[, X], factor(HS$school, levels = GROUPS))
INPUT_COV <- lapply(by_school, cov)
INPUT_MEAN <- lapply(by_school, colMeans)
INPUT_NOBS <- lapply(by_school, nrow)

LI <- c("loadings", "intercepts")
## name -> function, model, lavaan arguments beyond model/data/group, notes
CASES <- list(
  configural = list(fun = "cfa", model = HS3, opts = list(),
                    notes = "Configural model: HS3 in both schools, no cross-group constraints."),
  metric = list(fun = "cfa", model = HS3, opts = list(group.equal = "loadings"),
                notes = "Metric (weak) invariance: loadings equal across groups (== rows on plabels)."),
  scalar = list(fun = "cfa", model = HS3, opts = list(group.equal = LI),
                notes = "Scalar (strong) invariance: loadings and intercepts equal; latent means free in group 2."),
  strict = list(fun = "cfa", model = HS3, opts = list(group.equal = c(LI, "residuals")),
                notes = "Strict invariance: loadings, intercepts and residual variances equal."),
  partial = list(fun = "cfa", model = HS3,
                 opts = list(group.equal = LI, group.partial = c("x3~1", "x7~1")),
                 notes = "Partial scalar invariance: intercepts of x3 and x7 released."),
  means = list(fun = "cfa", model = HS3, opts = list(group.equal = c(LI, "means")),
               notes = "Scalar invariance plus equal latent means (all fixed to 0)."),
  full = list(fun = "cfa", model = HS3,
              opts = list(group.equal = c(LI, "residuals", "residual.covariances", "lv.variances",
                                          "lv.covariances")),
              notes = "Loadings, intercepts, residual variances, residual covariances (none in the model), lv variances and lv covariances equal."),
  std_lv_metric = list(fun = "cfa", model = HS3, opts = list(std.lv = TRUE, group.equal = "loadings"),
                       notes = "std.lv = TRUE with equal loadings: lv variances fixed to 1 in group 1 only, free in group 2."),
  modifiers = list(fun = "cfa", model = MODIFIERS, opts = list(),
                   notes = "Per-group modifiers: c(a1, a1) shares a label across groups (one == row), c(1, NA) fixes x3's loading in group 1 only, c(b1, b2) labels per group; diff := b1 - b2."),
  sem_groups = list(fun = "sem", model = SEM_GROUPS, opts = list(),
                    notes = "Structural model with an observed covariate (ageyr, fixed.x = TRUE): its variance and mean are fixed to each group's sample values (exo = 1)."),
  sample_moments = list(fun = "cfa", model = HS3, opts = list(), moments = TRUE,
                        notes = "Configural model fitted from per-group summary statistics: sample.cov (cov(), divisor N-1; input_cov_<g>.csv), sample.mean (input_mean_<g>.csv), sample.nobs, as named lists in group order. Same fit as configural."),
  wishart = list(fun = "cfa", model = HS3, opts = list(likelihood = "wishart"),
                 notes = "Configural with likelihood = 'wishart': per-group S with divisor N_g - 1, chisq on N - G."),
  configural_mlr = list(fun = "cfa", model = HS3, opts = list(estimator = "MLR"),
                        notes = "Configural with estimator = 'MLR' (Huber-White SEs, Yuan-Bentler scaled test).")
)
SCORE_CASES <- c("metric", "scalar", "strict", "partial", "means", "full", "std_lv_metric", "modifiers")

case_args <- function(case) {
  args <- list(model = case$model)
  if (isTRUE(case$moments)) {
    args <- c(args, list(sample.cov = INPUT_COV, sample.mean = INPUT_MEAN, sample.nobs = INPUT_NOBS))
  } else {
    args <- c(args, list(data = HS, group = "school"))
  }
  c(args, case$opts)
}

## ------------------------------ per-fit files -------------------------------
## parameterEstimates with the == rows kept, and parTable's plabel (rows are parTable's rows)
estimates_table <- function(fit) {
  pt <- parTable(fit)
  pe <- parameterEstimates(fit, ci = TRUE, standardized = TRUE, remove.eq = FALSE,
                           remove.system.eq = FALSE, remove.ineq = FALSE, remove.def = FALSE,
                           remove.nonfree = FALSE)
  stopifnot(nrow(pe) == nrow(pt), identical(pe$lhs, pt$lhs), identical(pe$op, pt$op),
            identical(pe$rhs, pt$rhs), identical(as.integer(pe$group), as.integer(pt$group)))
  if (is.null(pe$label)) pe$label <- pt$label     # lavaan leaves the column out when no label is set
  pe$plabel <- pt$plabel
  pe[, c("lhs", "op", "rhs", "block", "group", "label", "plabel", "est", "se", "z", "pvalue",
         "ci.lower", "ci.upper", "std.lv", "std.all", "std.nox")]
}

## lavTestScore: the constraint (plabels) and the parameter both plabels belong to
score_table <- function(fit) {
  pt <- parTable(fit)
  uni <- lavTestScore(fit)$uni
  a <- match(uni$lhs, pt$plabel)
  b <- match(uni$rhs, pt$plabel)
  stopifnot(!anyNA(a), !anyNA(b), identical(pt$lhs[a], pt$lhs[b]), identical(pt$op[a], pt$op[b]),
            identical(pt$rhs[a], pt$rhs[b]))
  data.frame(constraint_lhs = uni$lhs, constraint_op = uni$op, constraint_rhs = uni$rhs,
             X2 = uni$X2, df = uni$df, p_value = uni$p.value,
             lhs = pt$lhs[a], op = pt$op[a], rhs = pt$rhs[a],
             group_lhs = pt$group[a], group_rhs = pt$group[b], stringsAsFactors = FALSE)
}

## rmr / srmr / crmr per group (lavaan's residual summary: "cov" part, "mean" part, "total"), and
## the Mplus variants; fitMeasures' overall values are the N_g / N weighted sums of these.
residual_summary <- function(fit) {
  rs <- lavaan:::lav_residuals_summary(fit, se = FALSE, unbiased = FALSE)
  mplus <- lavaan:::lav_fit_srmr_mplus(fit)
  ng <- unlist(lavInspect(fit, "nobs"))
  rows <- lapply(seq_along(rs), function(g) {
    r <- rs[[g]]
    data.frame(group = g, group_label = lavInspect(fit, "group.label")[g], nobs = ng[g],
               rmr = r$rmr$total, rmr_cov = r$rmr$cov, rmr_mean = r$rmr$mean,
               srmr = r$srmr$total, srmr_cov = r$srmr$cov, srmr_mean = r$srmr$mean,
               crmr = r$crmr$total, crmr_cov = r$crmr$cov, crmr_mean = r$crmr$mean,
               srmr_mplus = mplus[g], srmr_mplus_nomean = attr(mplus, "nomean")[g],
               stringsAsFactors = FALSE)
  })
  out <- do.call(rbind, rows)
  w <- out$nobs / sum(out$nobs)
  stopifnot(isTRUE(all.equal(sum(w * out$srmr), fitMeasures(fit, "srmr")[[1]], tolerance = 1e-12)),
            isTRUE(all.equal(sum(w * out$srmr_cov), fitMeasures(fit, "srmr_bentler_nomean")[[1]],
                             tolerance = 1e-12)))
  out
}

dump_fit <- function(fit, dir) {
  labels <- lavInspect(fit, "group.label")
  write_df(parTable(fit), file.path(dir, "partable.csv"))
  write_df(estimates_table(fit), file.path(dir, "estimates.csv"))
  ss <- standardizedSolution(fit, type = "std.all")
  if (is.null(ss$label)) ss$label <- ""
  write_df(ss[, c("lhs", "op", "rhs", "group", "label", "est.std", "se", "z", "pvalue", "ci.lower",
                  "ci.upper")], file.path(dir, "std_all.csv"))
  fm <- fitMeasures(fit)
  write_df(data.frame(measure = names(fm), value = as.numeric(fm), stringsAsFactors = FALSE),
           file.path(dir, "fit_measures.csv"))
  r2 <- lavInspect(fit, "r2")
  write_df(do.call(rbind, lapply(seq_along(labels), function(g) {
    data.frame(group = g, group_label = labels[g], variable = names(r2[[g]]),
               r2 = as.numeric(r2[[g]]), stringsAsFactors = FALSE)
  })), file.path(dir, "r2.csv"))
  implied <- lavInspect(fit, "implied")
  sampstat <- lavInspect(fit, "sampstat")
  for (g in seq_along(labels)) {
    write_matrix(implied[[g]]$cov, file.path(dir, sprintf("implied_cov_%d.csv", g)))
    write_vector(implied[[g]]$mean, file.path(dir, sprintf("implied_mean_%d.csv", g)))
    write_matrix(sampstat[[g]]$cov, file.path(dir, sprintf("sample_cov_%d.csv", g)))
    write_vector(sampstat[[g]]$mean, file.path(dir, sprintf("sample_mean_%d.csv", g)))
  }
  write_df(residual_summary(fit), file.path(dir, "srmr_groups.csv"))
}

inspect_table <- function(fit, first, gain) {
  opt <- lavInspect(fit, "options")
  pt <- parTable(fit)
  nobs <- unlist(lavInspect(fit, "nobs"))
  vals <- list(
    converged = lavInspect(first, "converged"),
    iterations = lavInspect(first, "iterations"),
    polish_gain = gain,
    polish_kept = !identical(fit, first),
    polish_iterations = if (identical(fit, first)) NA else lavInspect(fit, "iterations"),
    ngroups = lavInspect(fit, "ngroups"),
    group_labels = paste(lavInspect(fit, "group.label"), collapse = ";"),
    nobs = paste(nobs, collapse = ";"),
    ntotal = sum(nobs),
    npar = fitMeasures(fit, "npar")[[1]],
    n_free = max(pt$free),
    n_eq_constraints = sum(pt$op == "=="),
    n_defined = sum(pt$op == ":="),
    df = fitMeasures(fit, "df")[[1]],
    chisq = fitMeasures(fit, "chisq")[[1]],
    chisq_group = paste(fmt(lavInspect(fit, "test")[[1]]$stat.group), collapse = ";"),
    fmin = fitMeasures(fit, "fmin")[[1]],
    estimator = opt$estimator,
    likelihood = opt$likelihood,
    information = paste(opt$information, collapse = ";"),
    se = opt$se,
    test = paste(opt$test, collapse = ";"),
    meanstructure = opt$meanstructure,
    fixed_x = opt$fixed.x,
    std_lv = opt$std.lv,
    group_equal = paste(opt$group.equal, collapse = ";"),
    group_partial = paste(opt$group.partial, collapse = ";")
  )
  data.frame(name = names(vals), value = vapply(vals, function(v) {
    if (is.numeric(v)) fmt(v) else as.character(v)
  }, character(1)), stringsAsFactors = FALSE)
}

case_json <- function(name, case) {
  moments <- isTRUE(case$moments)
  opts <- case$opts
  names(opts) <- gsub(".", "_", names(opts), fixed = TRUE)
  for (k in c("group_equal", "group_partial")) if (!is.null(opts[[k]])) opts[[k]] <- as.list(opts[[k]])
  list(`function` = case$fun,
       data = if (moments) NULL else DATA_CSV,
       group = if (moments) NULL else "school",
       group_labels = as.list(GROUPS),
       sample_cov = if (moments) as.list(file.path(OUT, name, sprintf("input_cov_%d.csv", 1:2))) else NULL,
       sample_mean = if (moments) as.list(file.path(OUT, name, sprintf("input_mean_%d.csv", 1:2))) else NULL,
       sample_nobs = if (moments) as.list(unname(unlist(INPUT_NOBS))) else NULL,
       options = if (length(opts)) opts else structure(list(), names = character(0)),
       notes = case$notes)
}

## ------------------------------ run ------------------------------------------
dir.create(OUT, showWarnings = FALSE, recursive = TRUE)
unlink(setdiff(list.files(OUT, full.names = TRUE), file.path(OUT, "README.md")), recursive = TRUE)
FITS <- list()
for (name in names(CASES)) {
  case <- CASES[[name]]
  dir <- file.path(OUT, name)
  dir.create(dir)
  warned <- character(0)
  collect <- function(w) {
    warned <<- c(warned, conditionMessage(w))
    invokeRestart("muffleWarning")
  }
  args <- case_args(case)
  first <- withCallingHandlers(do.call(case$fun, args), warning = collect)
  stopifnot(lavInspect(first, "converged"))
  polished <- polish_gain(first, case$fun, args)          # common.R
  fit <- polished$fit
  FITS[[name]] <- fit
  write_text(case$model, file.path(dir, "model.lav"))
  write_json(case_json(name, case), file.path(dir, "case.json"))
  if (isTRUE(case$moments)) {
    for (g in seq_along(GROUPS)) {
      write_matrix(INPUT_COV[[g]], file.path(dir, sprintf("input_cov_%d.csv", g)))
      write_vector(INPUT_MEAN[[g]], file.path(dir, sprintf("input_mean_%d.csv", g)))
    }
  }
  withCallingHandlers({
    dump_fit(fit, dir)
    write_df(inspect_table(fit, first, polished$gain), file.path(dir, "inspect.csv"))
    if (name %in% SCORE_CASES) {
      write_df(score_table(fit), file.path(dir, "score_tests.csv"))
      write_df(lavTestScore(fit)$test, file.path(dir, "score_tests_total.csv"))
    }
    if (name == "scalar") {
      mi <- modindices(fit, sort. = FALSE, minimum.value = 0)
      write_df(mi[, c("lhs", "op", "rhs", "block", "group", "mi", "epc", "sepc.lv", "sepc.all",
                      "sepc.nox")], file.path(dir, "modindices.csv"))
      omega <- compRelSEM(fit)
      ave <- AVE(fit)
      stopifnot(identical(omega$group, GROUPS), identical(ave$group, GROUPS))
      factors <- setdiff(names(omega), "group")
      write_df(do.call(rbind, lapply(seq_along(GROUPS), function(g) {
        data.frame(group = g, group_label = GROUPS[g], factor = factors,
                   omega = as.numeric(omega[g, factors]), ave = as.numeric(ave[g, factors]),
                   stringsAsFactors = FALSE)
      })), file.path(dir, "reliability.csv"))
    }
  }, warning = collect)
  if (length(warned)) write_text(warned, file.path(dir, "warnings.txt"))
  cat(sprintf("== %-15s converged %s, %3d iterations (polish gain %.2g), chisq %.6f, df %d\n", name,
              lavInspect(first, "converged"), lavInspect(first, "iterations"), polished$gain,
              fitMeasures(fit, "chisq"), as.integer(fitMeasures(fit, "df"))))
}

## --------------------------- invariance tables -------------------------------
INV <- c("configural", "metric", "scalar", "strict")
dir.create(file.path(OUT, "invariance"))
lrt <- do.call(lavTestLRT, c(unname(FITS[INV]), list(model.names = INV)))
write_df(data.frame(model = rownames(lrt), Df = lrt$Df, AIC = lrt$AIC, BIC = lrt$BIC,
                    Chisq = lrt$Chisq, Chisq_diff = lrt[["Chisq diff"]], RMSEA = lrt$RMSEA,
                    Df_diff = lrt[["Df diff"]], Pr_gt_Chisq = lrt[["Pr(>Chisq)"]],
                    stringsAsFactors = FALSE), file.path(OUT, "invariance", "lrt.csv"))
cf <- compareFit(configural = FITS$configural, metric = FITS$metric, scalar = FITS$scalar,
                 strict = FITS$strict)
fi <- cf@fit
nested <- cf@nested
stopifnot(identical(rownames(fi), INV), identical(rownames(nested), INV))
delta <- function(measure) c(NA, diff(fi[[measure]]))
write_df(data.frame(model = INV, chisq = fi$chisq, df = fi$df, pvalue = fi$pvalue, cfi = fi$cfi,
                    tli = fi$tli, rmsea = fi$rmsea, rmsea_ci_lower = fi$rmsea.ci.lower,
                    rmsea_ci_upper = fi$rmsea.ci.upper, srmr = fi$srmr, aic = fi$aic, bic = fi$bic,
                    delta_chisq = nested[["Chisq diff"]], delta_df = nested[["Df diff"]],
                    delta_pvalue = nested[["Pr(>Chisq)"]], delta_cfi = delta("cfi"),
                    delta_tli = delta("tli"), delta_rmsea = delta("rmsea"),
                    delta_srmr = delta("srmr"), delta_aic = delta("aic"), delta_bic = delta("bic"),
                    stringsAsFactors = FALSE), file.path(OUT, "invariance", "compare_fit.csv"))
stopifnot(isTRUE(all.equal(as.numeric(cf@fit.diff$cfi), diff(fi$cfi), tolerance = 1e-14)))
write_text(capture.output(summary(cf)), file.path(OUT, "invariance", "compare_fit.txt"))

write_text(c(R.version.string,
             paste("lavaan", as.character(packageVersion("lavaan"))),
             paste("semTools", as.character(packageVersion("semTools")))),
           file.path(OUT, "versions.txt"))
cat("done\n")
