## Writers and the BFGS polish shared by the make_*_fixtures.R scripts (source("tests/reference/common.R") from the
## repository root).  Numbers are written with sprintf("%.17g") so that they round-trip exactly;
## NA/NaN become empty fields; "." in column names becomes "_".

fmt <- function(x) {
  if (is.numeric(x)) {
    out <- sprintf("%.17g", x)
    out[is.na(x)] <- ""
    return(out)
  }
  x <- as.character(x)
  x[is.na(x)] <- ""
  x
}

write_df <- function(df, path) {
  df <- as.data.frame(df, stringsAsFactors = FALSE, check.names = FALSE)
  header <- paste(gsub(".", "_", names(df), fixed = TRUE), collapse = ",")
  body <- do.call(paste, c(lapply(df, function(col) fmt(unclass(col))), sep = ","))
  con <- file(path, open = "wb")
  on.exit(close(con))
  writeLines(c(header, body), con, sep = "\n")
}

## A matrix with its row names in a first column called `first`; the other headers are the column
## names as they are (no "." -> "_").  Columns are taken by position: vcov() repeats shared labels.
write_matrix <- function(m, path, first = "variable") {
  m <- unclass(m)
  df <- data.frame(rownames(m), matrix(as.numeric(m), nrow(m)), stringsAsFactors = FALSE)
  con <- file(path, open = "wb")
  on.exit(close(con))
  body <- do.call(paste, c(lapply(df, fmt), sep = ","))
  writeLines(c(paste(c(first, colnames(m)), collapse = ","), body), con, sep = "\n")
}

## nlminb's default stopping rule (rel.tol 1e-10) can leave flat models short of the optimum (on
## Political Democracy y2~~y4 by 1.2e-4).  polish_gain() refits with lavaan's BFGS from the nlminb
## solution at a tight tolerance and keeps the refit when it lowers the objective: list(fit,
## gain = fmin before - fmin after; NA when the refit failed).  With start = <fit>, lavaan 0.6.14
## would otherwise switch fixed.x off, so the fit's own fixed.x is passed on.
polish_gain <- function(fit, fun, args) {
  args$start <- fit
  args$fixed.x <- lavInspect(fit, "options")$fixed.x
  args$optim.method <- "BFGS"
  args$control <- list(reltol = 1e-15, maxit = 20000)
  refit <- tryCatch(suppressWarnings(do.call(fun, args)), error = function(e) NULL)
  if (is.null(refit) || !lavInspect(refit, "converged")) return(list(fit = fit, gain = NA_real_))
  gain <- fitMeasures(fit, "fmin") - fitMeasures(refit, "fmin")
  list(fit = if (gain > 0) refit else fit, gain = gain)
}
polish <- function(fit, fun, args) polish_gain(fit, fun, args)$fit
