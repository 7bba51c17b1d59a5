#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## Population moments of lavaan's simulateData(), for sem_engine's simulate.py.
## Run from the repository root:
##
##     Rscript tests/reference/make_simulate_fixtures.R
##
## Writes only tests/reference/simulate/ (rewritten from scratch).  Numbers with
## sprintf("%.17g"), NA empty, as make_fixtures.R.  No random draws are
## compared: simulateData(..., return.fit = TRUE) attaches the lavaan object
## whose parameters are the population values, and its implied moments are
## the covariance matrix and mean vector that lavaan draws the data from.
##
## Per case (<case>/): model.lav; partable.csv (lhs,op,rhs,free,ustart: the
## population value of every row after simulateData's defaults; free is
## lavaan's numbering under simulateData's options); implied_cov.csv (first
## column variable); implied_mean.csv (variable,mean); names.csv (variable:
## the column order of the simulated data frame).
##
## Vale-Maurelli (lavaan's ValeMaurelli1983; its two inner solvers are taken
## from the function's own body, not re-implemented here):
##   fleishman.csv     skewness,kurtosis,a,b,c,d (Fleishman 1978 coefficients)
##   intermediate.csv  skew1,kurt1,skew2,kurt2,r,rho (intermediate correlation
##                     rho of two variables whose target correlation is r)
## ---------------------------------------------------------------------------

suppressPackageStartupMessages(library(lavaan))

if (!file.exists("sem_engine") || !file.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_simulate_fixtures.R")
}
options(warn = 1)
RNGkind("Mersenne-Twister", "Inversion", "Rejection")

OUT <- "tests/reference/simulate"
unlink(OUT, recursive = TRUE)
dir.create(OUT, recursive = TRUE, showWarnings = FALSE)

source("tests/reference/common.R")

CASES <- list(
  cfa_fixed = '
visual  =~ 0.7*x1 + 0.6*x2 + 0.8*x3
textual =~ 0.8*x4 + 0.7*x5 + 0.9*x6
visual ~~ 0.4*textual
x1 ~~ 0.51*x1
x2 ~~ 0.64*x2
x3 ~~ 0.36*x3
x4 ~~ 0.36*x4
x5 ~~ 0.51*x5
x6 ~~ 0.19*x6
',
  defaults = '
f =~ a*x1 + start(0.6)*x2 + 0.8*x3
y ~ 0.4*f + 0.3*z
y ~ 1.5*1
x1 ~ 0.2*1
',
  mediation = '
M ~ 0.5*X
Y ~ 0.4*M + 0.1*X
X ~~ 2*X
M ~~ 0.75*M
Y ~~ 0.6*Y
',
  structural = '
f1 =~ 0.7*y1 + 0.7*y2 + 0.7*y3
f2 =~ 0.6*y4 + 0.8*y5 + 0.7*y6
f3 =~ y7
f2 ~ 0.5*f1
f3 ~ 0.3*f2 + 0.2*f1
y1 ~~ 0.2*y4
f1 ~~ 2*f1
',
  orthogonal_exo = '
f1 =~ 0.7*y1 + 0.7*y2 + 0.7*y3
f2 =~ 0.6*y4 + 0.8*y5 + 0.7*y6
f1 ~ 0.4*x1 + 0.2*x2
x1 ~~ 0.3*x2
'
)

for (name in names(CASES)) {
  cat("==", name, "\n")
  model <- CASES[[name]]
  dir <- file.path(OUT, name)
  dir.create(dir, showWarnings = FALSE)
  writeLines(model, file.path(dir, "model.lav"))
  data <- withCallingHandlers(
    simulateData(model, sample.nobs = 10L, return.fit = TRUE, seed = 1),
    warning = function(w) {
      cat("  warning:", conditionMessage(w), "\n")
      invokeRestart("muffleWarning")
    })
  fit <- attr(data, "fit")
  pt <- parTable(fit)
  keep <- pt$op %in% c("=~", "~", "~~", "~1")
  write_df(data.frame(lhs = pt$lhs[keep], op = pt$op[keep], rhs = pt$rhs[keep],
                      free = pt$free[keep], ustart = pt$est[keep], stringsAsFactors = FALSE),
           file.path(dir, "partable.csv"))
  implied <- lavInspect(fit, "implied")
  cov <- implied$cov
  cov <- matrix(as.numeric(cov), nrow(cov), dimnames = dimnames(cov))
  write_df(data.frame(variable = rownames(cov), cov, check.names = FALSE, stringsAsFactors = FALSE),
           file.path(dir, "implied_cov.csv"))
  mean <- if (is.null(implied$mean)) rep(0, nrow(cov)) else as.numeric(implied$mean)
  write_df(data.frame(variable = rownames(cov), mean = mean, stringsAsFactors = FALSE),
           file.path(dir, "implied_mean.csv"))
  write_df(data.frame(variable = names(data), stringsAsFactors = FALSE), file.path(dir, "names.csv"))
}

## Vale-Maurelli: the Fleishman solver and the intermediate-correlation solver are the first two
## statements of ValeMaurelli1983's body; evaluating them defines lavaan's own functions.
cat("== vale_maurelli\n")
vm <- body(lavaan:::ValeMaurelli1983)
solvers <- new.env()
eval(vm[[2]], solvers)
eval(vm[[3]], solvers)
stopifnot(exists("fleishman1978_abcd", solvers), exists("getICOV", solvers))

targets <- data.frame(skewness = c(0, 0, 1, -1, 2, 0.5, 1.5, -0.75),
                      kurtosis = c(0, 3, 3, 3, 7, 1, 4, 0.5))
coef <- t(mapply(solvers$fleishman1978_abcd, targets$skewness, targets$kurtosis))
write_df(data.frame(targets, a = coef[, 1], b = coef[, 2], c = coef[, 3], d = coef[, 4]),
         file.path(OUT, "fleishman.csv"))

pairs <- data.frame(i = c(3, 3, 5, 2, 7, 4), j = c(3, 4, 6, 5, 8, 1), r = c(0.5, 0.4, 0.6, -0.3, 0.7, 0.2))
rho <- mapply(function(i, j, r) {
  solvers$getICOV(coef[i, 2], coef[i, 3], coef[i, 4], coef[j, 2], coef[j, 3], coef[j, 4], R = r)
}, pairs$i, pairs$j, pairs$r)
write_df(data.frame(skew1 = targets$skewness[pairs$i], kurt1 = targets$kurtosis[pairs$i],
                    skew2 = targets$skewness[pairs$j], kurt2 = targets$kurtosis[pairs$j],
                    r = pairs$r, rho = rho),
         file.path(OUT, "intermediate.csv"))

writeLines(c("package,version", paste0("R,", getRversion()),
             paste0("lavaan,", packageVersion("lavaan"))), file.path(OUT, "versions.csv"))
