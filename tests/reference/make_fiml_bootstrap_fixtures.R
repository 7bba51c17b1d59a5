#!/usr/bin/env Rscript
## ---------------------------------------------------------------------------
## Reference spread of lavaan's bootstrap under FIML, for a statistical check of sem_engine's.
## Run from the repository root (after make_missing_fixtures.R, whose data it reads):
##
##     Rscript tests/reference/make_fiml_bootstrap_fixtures.R
##
## Fits the 3-factor Holzinger-Swineford CFA to the 12% MCAR data (tests/reference/missing/
## hs_missing.csv) with missing = "ml" and runs bootstrapLavaan(type = "ordinary", R = 1000,
## FUN = "coef", seed 1): rows are resampled with their missing values and each replicate is
## refitted by FIML.  lavaan's draws differ from sem_engine's (another random number generator),
## so only their distribution is compared: for every free parameter the number of successful
## replicates, the SD of its draws and the 5%, 25%, 50%, 75% and 95% quantiles (type 7).
## Writes tests/reference/missing/hs_fiml_bootstrap/quantiles.csv.  Takes about 3 minutes.
## ---------------------------------------------------------------------------

suppressPackageStartupMessages(library(lavaan))

if (!file.exists("sem_engine") || !file.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_fiml_bootstrap_fixtures.R")
}
source("tests/reference/common.R")
OUT <- "tests/reference/missing/hs_fiml_bootstrap"
dir.create(OUT, showWarnings = FALSE)

data <- read.csv("tests/reference/missing/hs_missing.csv")
model <- paste(readLines("tests/reference/missing/hs_fiml/model.lav"), collapse = "\n")
fit <- sem(model, data = data, missing = "ml")
set.seed(1)
draws <- suppressWarnings(bootstrapLavaan(fit, R = 1000, type = "ordinary", FUN = "coef"))
ok <- apply(is.finite(draws), 1, all)
draws <- draws[ok, , drop = FALSE]
pt <- parTable(fit)
free <- pt[pt$free > 0, ]
q <- apply(draws, 2, quantile, probs = c(0.05, 0.25, 0.5, 0.75, 0.95), type = 7)
write_df(data.frame(lhs = free$lhs, op = free$op, rhs = free$rhs, n_ok = nrow(draws),
                    sd = apply(draws, 2, sd), q05 = q[1, ], q25 = q[2, ], q50 = q[3, ],
                    q75 = q[4, ], q95 = q[5, ]),
         file.path(OUT, "quantiles.csv"))
writeLines(c(paste("lavaan", as.character(packageVersion("lavaan"))), R.version.string),
           file.path(OUT, "versions.txt"))
cat("hs_fiml_bootstrap:", nrow(draws), "successful replicates\n")
