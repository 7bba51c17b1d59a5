#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## Reference fixtures for sem_engine, produced by real lavaan / semTools / psych
## runs.  Run from the repository root:
##
##     Rscript tests/reference/make_fixtures.R
##
## Everything under tests/reference/ (except this script and README.md) is
## (re)generated.  The data sets are read from sem_engine/datasets/*.csv so
## that R and Python use exactly the same bytes; if those CSVs are missing
## they are first exported from lavaan's bundled data objects.
##
## All numbers are written with sprintf("%.17g"), which round-trips IEEE
## doubles exactly; NA/NaN are written as empty fields.
## ---------------------------------------------------------------------------

suppressPackageStartupMessages({
  library(lavaan)
  library(semTools)
})
source("tests/reference/common.R")  # polish_gain(), polish()
HAVE_PSYCH <- requireNamespace("psych", quietly = TRUE)

if (!file.exists("sem_engine") || !file.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_fixtures.R")
}

REF_DIR  <- "tests/reference"
DATA_DIR <- "sem_engine/datasets"
HS_CSV   <- file.path(DATA_DIR, "holzinger_swineford_1939.csv")
PD_CSV   <- file.path(DATA_DIR, "political_democracy.csv")

options(warn = 1)
RNGkind("Mersenne-Twister", "Inversion", "Rejection")

## ============================ helpers =======================================

## '.' -> '_' in names; also make a few non-syntactic names plain
clean_names <- function(x) {
  x <- gsub("Pr(>Chisq)", "Pr_gt_Chisq", x, fixed = TRUE)
  x <- gsub(".", "_", x, fixed = TRUE)
  x <- gsub(" ", "_", x, fixed = TRUE)
  x
}

fmt_num <- function(x) {
  x <- as.numeric(x)
  out <- sprintf("%.17g", x)
  out[is.na(x)] <- ""            # NA and NaN
  out
}

fmt_chr <- function(x) {
  x <- as.character(x)
  na <- is.na(x)
  need <- grepl("[\",\r\n]", x) | grepl("^\\s|\\s$", x)
  x[need] <- paste0("\"", gsub("\"", "\"\"", x[need], fixed = TRUE), "\"")
  x[na] <- ""
  x
}

fmt_col <- function(x) {
  if (is.factor(x)) x <- as.character(x)
  if (is.logical(x)) {
    out <- ifelse(x, "TRUE", "FALSE"); out[is.na(x)] <- ""; return(out)
  }
  if (is.numeric(x)) return(fmt_num(x))
  fmt_chr(x)
}

## write a data.frame: full precision, NA empty, minimal quoting, no row names
write_df <- function(df, path) {
  df <- as.data.frame(df, stringsAsFactors = FALSE, check.names = FALSE)
  cols <- lapply(df, function(col) fmt_col(unclass_keep(col)))
  header <- paste(fmt_chr(clean_names(names(df))), collapse = ",")
  if (nrow(df) > 0) {
    body <- do.call(paste, c(cols, sep = ","))
  } else body <- character(0)
  con <- file(path, open = "wb")
  on.exit(close(con))
  writeLines(c(header, body), con, sep = "\n")
  invisible(path)
}

## drop lavaan's print classes but keep the values / factors
unclass_keep <- function(x) {
  if (is.factor(x)) return(as.character(x))
  if (inherits(x, c("lavaan.vector", "lavaan.matrix", "lavaan.matrix.symmetric",
                    "lavaan.data.frame"))) x <- unclass(x)
  attributes(x) <- attributes(x)[intersect(names(attributes(x)), c("names"))]
  x
}

## matrix with row names in first column (named `first`)
write_mat <- function(m, path, first = "variable") {
  m <- unclass(m)
  m <- as.matrix(m)
  rn <- rownames(m)
  if (is.null(rn)) rn <- as.character(seq_len(nrow(m)))
  df <- data.frame(rn, stringsAsFactors = FALSE, check.names = FALSE)
  names(df) <- first
  for (j in seq_len(ncol(m))) df[[colnames(m)[j]]] <- as.numeric(m[, j])
  # keep raw column names (variable names) -- no '.'->'_' for matrices
  cols <- lapply(df, fmt_col)
  header <- paste(fmt_chr(c(first, colnames(m))), collapse = ",")
  body <- do.call(paste, c(cols, sep = ","))
  con <- file(path, open = "wb"); on.exit(close(con))
  writeLines(c(header, body), con, sep = "\n")
  invisible(path)
}

## named vector -> two-column csv
write_vec <- function(v, path, cols = c("variable", "value")) {
  v <- unclass(v)
  df <- data.frame(names(v), as.numeric(v), stringsAsFactors = FALSE)
  names(df) <- cols
  write_df(df, path)
}

## name/value table with mixed types (values already strings or scalars)
write_kv <- function(lst, path, cols = c("name", "value")) {
  val <- vapply(lst, function(v) {
    if (is.null(v) || length(v) == 0) return("")
    if (is.logical(v)) return(paste(ifelse(v, "TRUE", "FALSE"), collapse = ";"))
    if (is.numeric(v)) return(paste(fmt_num(v), collapse = ";"))
    paste(as.character(v), collapse = ";")
  }, character(1))
  df <- data.frame(names(lst), val, stringsAsFactors = FALSE)
  names(df) <- cols
  write_df(df, path)
}

## minimal JSON writer (scalars, NULL, named lists)
json_str <- function(s) {
  s <- gsub("\\", "\\\\", s, fixed = TRUE)
  s <- gsub("\"", "\\\"", s, fixed = TRUE)
  s <- gsub("\n", "\\n", s, fixed = TRUE)
  s <- gsub("\t", "\\t", s, fixed = TRUE)
  paste0("\"", s, "\"")
}
to_json <- function(x, indent = 0) {
  pad  <- strrep("  ", indent + 1)
  pad0 <- strrep("  ", indent)
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (length(x) == 0) return("{}")
    items <- vapply(names(x), function(n) paste0(pad, json_str(n), ": ", to_json(x[[n]], indent + 1)),
                    character(1))
    return(paste0("{\n", paste(items, collapse = ",\n"), "\n", pad0, "}"))
  }
  if (length(x) != 1) {
    return(paste0("[", paste(vapply(x, function(e) to_json(e, indent), character(1)), collapse = ", "), "]"))
  }
  if (is.logical(x)) return(if (isTRUE(x)) "true" else "false")
  if (is.numeric(x)) {
    if (x == round(x) && abs(x) < 1e15) return(sprintf("%d", as.integer(x)))
    return(sprintf("%.17g", x))
  }
  json_str(as.character(x))
}
write_json <- function(x, path) {
  con <- file(path, open = "wb"); on.exit(close(con))
  writeLines(to_json(x), con, sep = "\n")
}

write_text <- function(txt, path) {
  con <- file(path, open = "wb"); on.exit(close(con))
  writeLines(txt, con, sep = "\n")
}

## add an (always present) label column right after rhs, matched on lhs/op/rhs
add_label <- function(df, pt) {
  key_pt <- paste(pt$lhs, pt$op, pt$rhs, sep = "\r")
  key_df <- paste(df$lhs, df$op, df$rhs, sep = "\r")
  lab <- pt$label[match(key_df, key_pt)]
  lab[is.na(lab)] <- ""
  df$label <- NULL
  rest <- setdiff(names(df), c("lhs", "op", "rhs"))
  out <- data.frame(lhs = df$lhs, op = df$op, rhs = df$rhs, label = lab,
                    stringsAsFactors = FALSE)
  for (n in rest) out[[n]] <- unclass_keep(df[[n]])
  out
}

## ---------------------------------------------------------------------------
## write every per-fit fixture file into `dir`
## ---------------------------------------------------------------------------
dump_fit <- function(fit, dir) {
  pt <- parTable(fit)
  write_df(pt, file.path(dir, "partable.csv"))

  pe <- parameterEstimates(fit, standardized = TRUE)
  pe <- add_label(pe, pt)
  pe <- pe[, c("lhs", "op", "rhs", "label", "est", "se", "z", "pvalue",
               "ci.lower", "ci.upper", "std.lv", "std.all", "std.nox")]
  write_df(pe, file.path(dir, "estimates.csv"))

  for (type in c("std.all", "std.lv", "std.nox")) {
    ss <- standardizedSolution(fit, type = type)
    ss <- add_label(ss, pt)
    ss <- ss[, c("lhs", "op", "rhs", "label", "est.std", "se", "z", "pvalue",
                 "ci.lower", "ci.upper")]
    write_df(ss, file.path(dir, paste0(sub(".", "_", type, fixed = TRUE), ".csv")))
  }

  fm <- fitMeasures(fit)
  write_df(data.frame(measure = clean_names(names(fm)), value = as.numeric(fm),
                      stringsAsFactors = FALSE),
           file.path(dir, "fit_measures.csv"))

  mi <- modindices(fit, sort. = FALSE, minimum.value = 0)
  write_df(mi, file.path(dir, "modindices.csv"))

  r2 <- lavInspect(fit, "r2")
  write_vec(r2, file.path(dir, "r2.csv"), c("variable", "r2"))

  meanstructure <- lavInspect(fit, "meanstructure")
  imp <- lavInspect(fit, "implied")
  write_mat(imp$cov, file.path(dir, "implied_cov.csv"))
  if (meanstructure && !is.null(imp$mean))
    write_vec(imp$mean, file.path(dir, "implied_mean.csv"), c("variable", "mean"))

  ss <- lavInspect(fit, "sampstat")
  write_mat(ss$cov, file.path(dir, "sample_cov.csv"))
  if (!is.null(ss$mean)) {
    write_vec(ss$mean, file.path(dir, "sample_mean.csv"), c("variable", "mean"))
  } else if (lavInspect(fit, "ntotal") > 0 && length(fit@Data@X) > 0 &&
             !is.null(fit@Data@X[[1]])) {
    ## raw data, no mean structure: lavaan still stores the sample means
    m <- fit@SampleStats@mean[[1]]
    names(m) <- lavNames(fit, "ov")
    write_vec(m, file.path(dir, "sample_mean.csv"), c("variable", "mean"))
  }

  for (type in c("raw", "cor.bollen", "standardized", "normalized")) {
    rr <- residuals(fit, type = type)
    stem <- paste0("resid_", sub(".", "_", type, fixed = TRUE))
    write_mat(rr$cov, file.path(dir, paste0(stem, "_cov.csv")))
    if (meanstructure && !is.null(rr$mean))
      write_vec(rr$mean, file.path(dir, paste0(stem, "_mean.csv")), c("variable", "value"))
  }

  write_mat(vcov(fit), file.path(dir, "vcov.csv"), first = "parameter")

  n_eq <- sum(pt$op == "==")
  if (n_eq > 0) {
    st <- lavTestScore(fit)
    write_df(st$uni, file.path(dir, "score_tests.csv"))
    write_df(st$test, file.path(dir, "score_tests_total.csv"))
  }

  opt <- lavInspect(fit, "options")
  info <- list(
    converged      = lavInspect(fit, "converged"),
    iterations     = lavInspect(fit, "iterations"),
    nobs           = lavInspect(fit, "nobs"),
    ntotal         = lavInspect(fit, "ntotal"),
    npar           = unname(fitMeasures(fit, "npar")),
    n_free         = max(pt$free),
    n_eq_constraints   = n_eq,
    n_ineq_constraints = sum(pt$op %in% c("<", ">")),
    n_defined      = sum(pt$op == ":="),
    df             = unname(fitMeasures(fit, "df")),
    chisq          = unname(fitMeasures(fit, "chisq")),
    fmin           = unname(fitMeasures(fit, "fmin")),
    likelihood     = opt$likelihood,
    meanstructure  = meanstructure,
    estimator      = opt$estimator,
    information    = opt$information,
    se             = opt$se,
    test           = opt$test,
    fixed_x        = opt$fixed.x,
    std_lv         = opt$std.lv,
    ceq_simple     = opt$ceq.simple,
    optim_method   = opt$optim.method,
    polish_fmin_gain = if (length(POLISH_GAIN)) POLISH_GAIN[[length(POLISH_GAIN)]] else NA
  )
  write_kv(info, file.path(dir, "inspect.csv"))

  ## all (scalar-ish) lavaan options actually used, vectors joined with ';'
  okeep <- opt[vapply(opt, function(v) is.atomic(v) && length(v) <= 10, logical(1))]
  names(okeep) <- clean_names(names(okeep))
  write_kv(okeep, file.path(dir, "options.csv"), c("option", "value"))
  invisible(NULL)
}

## ---------------------------------------------------------------------------
## run one case: fit, dump, record model.lav / case.json; errors are caught
## ---------------------------------------------------------------------------
FITS <- list()
FAILED <- character(0)

## Every case is polished (common.R's polish_gain); the gain is recorded in inspect.csv.
POLISH_GAIN <- list()
polish <- function(fit, fun, args) {
  p <- polish_gain(fit, fun, args)
  if (!is.na(p$gain)) POLISH_GAIN[[length(POLISH_GAIN) + 1]] <<- p$gain
  p$fit
}

run_case <- function(case, fun, model, data = NULL, data_path = NULL,
                     sample.cov = NULL, sample.mean = NULL, sample.nobs = NULL,
                     sample_cov_path = NULL, sample_mean_path = NULL,
                     options = list(), notes = "", prepare = NULL) {
  dir <- file.path(REF_DIR, case)
  cat(sprintf("== %s\n", case))
  warns <- character(0)
  ok <- tryCatch(withCallingHandlers({
    unlink(dir, recursive = TRUE)
    dir.create(dir, recursive = TRUE, showWarnings = FALSE)
    if (!is.null(prepare)) {
      d <- prepare(dir)
      if (is.null(data)) data <- d
    }
    args <- c(list(model = model), options)
    if (!is.null(data)) args$data <- data
    if (!is.null(sample.cov)) args$sample.cov <- sample.cov
    if (!is.null(sample.mean)) args$sample.mean <- sample.mean
    if (!is.null(sample.nobs)) args$sample.nobs <- sample.nobs
    fit <- do.call(fun, args)
    if (!lavInspect(fit, "converged")) stop("model did not converge")
    fit <- polish(fit, fun, args)
    write_text(model, file.path(dir, "model.lav"))
    opts <- options
    names(opts) <- clean_names(names(opts))
    write_json(list(`function` = fun,
                    data = data_path,
                    sample_cov = sample_cov_path,
                    sample_mean = sample_mean_path,
                    sample_nobs = sample.nobs,
                    options = opts,
                    notes = notes),
               file.path(dir, "case.json"))
    dump_fit(fit, dir)
    FITS[[case]] <<- fit
    TRUE
  }, warning = function(w) {
    warns <<- c(warns, conditionMessage(w))
    invokeRestart("muffleWarning")
  }), error = function(e) {
    cat(sprintf("!! case %s FAILED: %s\n", case, conditionMessage(e)))
    FALSE
  })
  if (length(warns) > 0 && dir.exists(dir)) {
    write_text(unique(warns), file.path(dir, "warnings.txt"))
    cat(sprintf("   (%d warning(s) recorded in %s/warnings.txt)\n", length(unique(warns)), dir))
  }
  if (!ok) FAILED <<- c(FAILED, case)
  invisible(ok)
}

## generic guarded block (for compare/validity)
guarded <- function(name, expr) {
  cat(sprintf("== %s\n", name))
  ok <- tryCatch({ force(expr); TRUE },
                 error = function(e) {
                   cat(sprintf("!! %s FAILED: %s\n", name, conditionMessage(e))); FALSE
                 })
  if (!ok) FAILED <<- c(FAILED, name)
  invisible(ok)
}

## ============================ data sets =====================================

export_dataset <- function(df, path) {
  if (!file.exists(path)) {
    cat(sprintf("exporting %s from lavaan's data\n", path))
    write_df(df, path)
  }
}
export_dataset(lavaan::HolzingerSwineford1939, HS_CSV)
export_dataset(lavaan::PoliticalDemocracy, PD_CSV)

HS <- read.csv(HS_CSV, stringsAsFactors = FALSE)
PD <- read.csv(PD_CSV, stringsAsFactors = FALSE)

## sanity: the CSV must reproduce lavaan's numbers bit-for-bit
local({
  ref <- lavaan::HolzingerSwineford1939
  for (v in names(ref)) {
    a <- if (is.factor(ref[[v]])) as.character(ref[[v]]) else ref[[v]]
    if (!identical(unname(a), unname(HS[[v]])) &&
        !identical(as.numeric(a), as.numeric(HS[[v]])))
      warning("HS column ", v, " differs from lavaan's data")
  }
  ref <- lavaan::PoliticalDemocracy
  for (v in names(ref))
    if (!identical(as.numeric(ref[[v]]), as.numeric(PD[[v]])))
      warning("PoliticalDemocracy column ", v, " differs from lavaan's data")
})

HS_PATH <- HS_CSV
PD_PATH <- PD_CSV

## ============================ versions ======================================

vers <- data.frame(
  package = c("R", "lavaan", "semTools", "psych"),
  version = c(as.character(getRversion()),
              as.character(packageVersion("lavaan")),
              as.character(packageVersion("semTools")),
              if (HAVE_PSYCH) as.character(packageVersion("psych")) else NA),
  stringsAsFactors = FALSE)
write_df(vers, file.path(REF_DIR, "versions.csv"))

## ============================ models ========================================

HS3 <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"

XNAMES <- paste0("x", 1:9)

## 1
run_case("hs_cfa", "cfa", HS3, data = HS, data_path = HS_PATH,
         notes = "Three-factor CFA, all lavaan defaults.")
## 2
run_case("hs_cfa_std_lv", "cfa", HS3, data = HS, data_path = HS_PATH,
         options = list(std.lv = TRUE),
         notes = "std.lv=TRUE: factor variances fixed to 1, all loadings free.")
## 3
run_case("hs_cfa_orthogonal", "cfa", HS3, data = HS, data_path = HS_PATH,
         options = list(orthogonal = TRUE),
         notes = "orthogonal=TRUE: factor covariances fixed to 0.")
## 4
run_case("hs_cfa_wishart", "cfa", HS3, data = HS, data_path = HS_PATH,
         options = list(likelihood = "wishart"),
         notes = "likelihood='wishart': S uses divisor N-1, chisq uses N-1.")
## 5
run_case("hs_cfa_observed", "cfa", HS3, data = HS, data_path = HS_PATH,
         options = list(information = "observed"),
         notes = "information='observed': SEs from the observed (Hessian) information.")
## 6
run_case("hs_cfa_meanstructure", "cfa", HS3, data = HS, data_path = HS_PATH,
         options = list(meanstructure = TRUE),
         notes = "meanstructure=TRUE: observed intercepts free, latent means fixed to 0.")
## 7
run_case("hs_second_order", "cfa",
         paste0(HS3, "\ngeneral =~ visual + textual + speed"),
         data = HS, data_path = HS_PATH,
         notes = "Second-order factor model (just-identified at the second order).")
## 8
run_case("hs_equal_labels", "cfa",
         "visual =~ x1 + a*x2 + a*x3
textual =~ x4 + x5 + 0.8*x6
speed =~ x7 + x8 + x9
x7 ~~ x8",
         data = HS, data_path = HS_PATH,
         notes = "Shared label a (equality constraint x2=x3 loadings), fixed loading 0.8 on x6, residual covariance x7~~x8.")
## 9
run_case("hs_constraint", "cfa",
         "visual =~ x1 + v2*x2 + v3*x3
textual =~ x4 + t5*x5 + t6*x6
speed =~ x7 + s8*x8 + s9*x9
v2 == v3
t5 + t6 == 2
ratio := s8/s9",
         data = HS, data_path = HS_PATH,
         notes = "Explicit equality constraints (one simple, one linear) and a defined parameter.")
## 10
run_case("hs_na_free", "cfa",
         "visual =~ NA*x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
visual ~~ 1*visual",
         data = HS, data_path = HS_PATH,
         notes = "First loading of visual freed with NA*, visual identified by fixing its variance to 1 (others by marker).")
## 11
run_case("hs_cfa_rescov", "cfa",
         paste0(HS3, "\nx2 ~~ x3\nx7 ~~ x8"),
         data = HS, data_path = HS_PATH,
         notes = "HS3 with residual covariances x2~~x3 and x7~~x8 (used for reliability with correlated errors).")
## 12
run_case("poldem", "sem",
         "ind60 =~ x1 + x2 + x3
dem60 =~ y1 + a*y2 + b*y3 + c*y4
dem65 =~ y5 + a*y6 + b*y7 + c*y8
dem60 ~ p1*ind60
dem65 ~ p2*ind60 + p3*dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8
indirect := p1*p3
total := p2 + p1*p3",
         data = PD, data_path = PD_PATH,
         notes = "lavaan tutorial Political Democracy SEM with equal loadings across time (a,b,c), labelled paths and defined indirect/total effects.")
## 13
run_case("mimic", "sem",
         "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
visual ~ sex + ageyr
textual ~ sex + ageyr",
         data = HS, data_path = HS_PATH,
         notes = "MIMIC model; sex and ageyr are exogenous observed covariates (fixed.x=TRUE default).")
## 14
MED_MODEL <- "M ~ a*X
Y ~ b*M + c*X
M ~ 1
Y ~ 1
ab := a*b
total := c + a*b"
run_case("mediation", "sem", MED_MODEL,
         data = NULL, data_path = "tests/reference/mediation/data.csv",
         notes = "Simulated: RNGkind('Mersenne-Twister','Inversion','Rejection'); set.seed(1234); n <- 200; X <- rnorm(n); M <- 0.5*X + rnorm(n); Y <- 0.7*M + 0.2*X + rnorm(n). Data written to data.csv (columns X,M,Y) and re-read from it before fitting.",
         prepare = function(dir) {
           set.seed(1234)
           n <- 200
           X <- rnorm(n)
           M <- 0.5 * X + rnorm(n)
           Y <- 0.7 * M + 0.2 * X + rnorm(n)
           path <- file.path(dir, "data.csv")
           write_df(data.frame(X = X, M = M, Y = Y), path)
           MED <- read.csv(path)
           stopifnot(identical(MED$X, X), identical(MED$M, M), identical(MED$Y, Y))
           MED
         })
## 15
HS_S    <- cov(HS[, XNAMES])          # divisor N-1
HS_MEAN <- colMeans(HS[, XNAMES])
read_mat <- function(path) {
  m <- as.matrix(read.csv(path, row.names = 1, check.names = FALSE))
  m
}
run_case("hs_cov", "cfa", HS3,
         sample.cov = HS_S, sample.nobs = 301L,
         sample_cov_path = "tests/reference/hs_cov/input_cov.csv",
         notes = "Fitted from a covariance matrix only: sample.cov = cov(HS[,x1..x9]) (divisor N-1, saved as input_cov.csv), sample.nobs = 301. lavaan rescales it by (N-1)/N internally (see sample_cov.csv).",
         prepare = function(dir) {
           path <- file.path(dir, "input_cov.csv")
           write_mat(HS_S, path)
           stopifnot(identical(unname(read_mat(path)), unname(HS_S)))
           NULL
         })
## 16
run_case("hs_cov_mean", "cfa", HS3,
         sample.cov = HS_S, sample.mean = HS_MEAN, sample.nobs = 301L,
         sample_cov_path = "tests/reference/hs_cov_mean/input_cov.csv",
         sample_mean_path = "tests/reference/hs_cov_mean/input_mean.csv",
         options = list(meanstructure = TRUE),
         notes = "Fitted from summary statistics: sample.cov = cov(HS[,x1..x9]) (divisor N-1), sample.mean = colMeans(...), sample.nobs = 301, meanstructure=TRUE.",
         prepare = function(dir) {
           path <- file.path(dir, "input_cov.csv")
           write_mat(HS_S, path)
           stopifnot(identical(unname(read_mat(path)), unname(HS_S)))
           path <- file.path(dir, "input_mean.csv")
           write_vec(HS_MEAN, path, c("variable", "mean"))
           stopifnot(identical(unname(read.csv(path)$mean), unname(HS_MEAN)))
           NULL
         })
## 17
run_case("poldem_path", "sem",
         "y1 ~ x1 + x2
y5 ~ y1 + x1",
         data = PD, data_path = PD_PATH,
         notes = "Observed-variable path model (no latents), sem() defaults: fixed.x=TRUE for x1,x2; shows which covariances lavaan adds automatically.")
## 18
run_case("two_outcomes", "sem",
         "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
textual ~ visual
speed ~ visual",
         data = HS, data_path = HS_PATH,
         notes = "Two endogenous latents regressed on one exogenous latent; records whether lavaan's sem() adds textual ~~ speed (auto.cov.y).")

## ============================ model comparison ==============================

guarded("compare", {
  dir <- file.path(REF_DIR, "compare")
  unlink(dir, recursive = TRUE)
  dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  f0 <- FITS[["hs_cfa_orthogonal"]]
  f1 <- FITS[["hs_cfa"]]
  if (is.null(f0) || is.null(f1)) stop("hs_cfa / hs_cfa_orthogonal fits missing")
  lrt_df <- function(tab) {
    out <- data.frame(model = rownames(tab), stringsAsFactors = FALSE)
    for (n in names(tab)) out[[n]] <- as.numeric(tab[[n]])
    out
  }
  lrt <- lavTestLRT(f0, f1, model.names = c("hs_cfa_orthogonal", "hs_cfa"))
  write_df(lrt_df(lrt), file.path(dir, "lrt_hs_cfa_orthogonal_vs_hs_cfa.csv"))
  hs_cfa_orthogonal <- f0; hs_cfa <- f1
  an <- anova(hs_cfa_orthogonal, hs_cfa)
  write_df(lrt_df(an), file.path(dir, "anova_hs_cfa_orthogonal_vs_hs_cfa.csv"))
  write_text(c(attr(lrt, "heading"),
               "lavTestLRT(hs_cfa_orthogonal_fit, hs_cfa_fit, model.names = c(\"hs_cfa_orthogonal\", \"hs_cfa\"))",
               "anova(hs_cfa_orthogonal, hs_cfa)"),
             file.path(dir, "heading.txt"))
})

## ============================ validity (semTools) ===========================

VDIR <- file.path(REF_DIR, "validity")
unlink(VDIR, recursive = TRUE)
dir.create(VDIR, recursive = TRUE, showWarnings = FALSE)

vec_or_df <- function(x, path, first = "factor") {
  if (is.data.frame(x) || is.matrix(x)) {
    write_mat(as.matrix(x), path, first = if (is.matrix(x) && !is.data.frame(x)) first else "row")
  } else {
    write_vec(x, path, c(first, "value"))
  }
}

write_htmt <- function(h, path) {
  m <- unclass(h)
  m <- matrix(as.numeric(m), nrow(m), dimnames = dimnames(m))
  write_mat(m, path, first = "factor")
}

for (case in c("hs_cfa", "hs_cfa_rescov")) {
  guarded(paste0("validity/", case), {
    fit <- FITS[[case]]
    if (is.null(fit)) stop("fit missing")
    model <- readLines(file.path(REF_DIR, case, "model.lav"))
    model <- paste(model, collapse = "\n")
    p <- function(s) file.path(VDIR, paste0(case, "_", s, ".csv"))
    suppressWarnings({
      vec_or_df(AVE(fit), p("AVE"))
      vec_or_df(compRelSEM(fit), p("compRelSEM"))
      vec_or_df(compRelSEM(fit, tau.eq = TRUE), p("compRelSEM_tau_eq"))
      vec_or_df(compRelSEM(fit, obs.var = FALSE), p("compRelSEM_obs_var_false"))
      vec_or_df(compRelSEM(fit, return.total = TRUE), p("compRelSEM_return_total"))
      rel <- reliability(fit)
    })
    write_mat(rel, p("reliability"), first = "measure")
    ## htmt uses the measurement part of the model text only
    write_htmt(htmt(model, data = HS), p("htmt"))
    write_htmt(htmt(model, data = HS, htmt2 = TRUE), p("htmt_htmt2"))
    write_htmt(htmt(model, data = HS, htmt2 = FALSE), p("htmt_htmt2_false"))
    S <- unclass(lavInspect(fit, "sampstat")$cov)
    write_htmt(htmt(model, sample.cov = S), p("htmt_sample_cov"))
    write_htmt(htmt(model, sample.cov = S, htmt2 = FALSE), p("htmt_sample_cov_htmt2_false"))
  })
}

## ============================ psych =========================================

guarded("validity/psych", {
  if (!HAVE_PSYCH) stop("package psych not installed (apt-get install -y r-cran-psych)")
  X <- HS[, XNAMES]
  p <- function(s) file.path(VDIR, paste0("psych_", s, ".csv"))

  k <- psych::KMO(X)
  write_df(data.frame(measure = "MSA", value = k$MSA), p("kmo_overall"))
  write_vec(k$MSAi, p("kmo_items"), c("variable", "MSAi"))

  R <- cor(X)
  b <- psych::cortest.bartlett(R, n = 301)
  write_df(data.frame(measure = c("chisq", "p_value", "df"),
                      value = c(b$chisq, b$p.value, b$df)), p("bartlett"))

  fac <- list(visual = c("x1", "x2", "x3"), textual = c("x4", "x5", "x6"),
              speed = c("x7", "x8", "x9"))
  al <- do.call(rbind, lapply(names(fac), function(f) {
    a <- suppressMessages(suppressWarnings(psych::alpha(X[, fac[[f]]])))
    tt <- a$total
    names(tt) <- gsub("[^A-Za-z0-9_]+", "_", sub("\\)$", "", names(tt)))  # G6(smc)->G6_smc, S/N->S_N
    data.frame(factor = f, items = paste(fac[[f]], collapse = " "),
               tt, stringsAsFactors = FALSE, check.names = FALSE)
  }))
  write_df(al, p("alpha"))

  m <- psych::mardia(X, plot = FALSE)
  write_df(data.frame(measure = c("n_obs", "n_var", "b1p", "b2p", "skew", "p_skew",
                                  "small_skew", "p_small", "kurtosis", "p_kurt"),
                      value = c(m$n.obs, m$n.var, m$b1p, m$b2p, m$skew, m$p.skew,
                                m$small.skew, m$p.small, m$kurtosis, m$p.kurt)),
           p("mardia"))
  write_df(data.frame(row = seq_along(m$d), d = m$d), p("mardia_d"))

  for (type in 1:3) {
    d <- psych::describe(X, type = type)
    d <- data.frame(variable = rownames(d), unclass_keep(as.data.frame(d)),
                    stringsAsFactors = FALSE, check.names = FALSE)
    write_df(d, p(if (type == 3) "describe" else paste0("describe_type", type)))
  }
})

## ============================ summary =======================================

if (length(FAILED) > 0) {
  cat("\nFAILED:", paste(FAILED, collapse = ", "), "\n")
  quit(status = 1)
}
cat("\nall cases OK\n")
