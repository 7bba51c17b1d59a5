#!/usr/bin/env Rscript
## Reference fixtures for tests/test_bad_input.py and tests/test_scale_invariance.py (issue 22):
## models that sem_engine once refused or got wrong, fitted by lavaan 0.6.14.  Run from the
## repository root:
##
##     Rscript tests/reference/make_scale_fixtures.R
##
## Writes tests/reference/scale/<case>_estimates.csv (lhs op rhs est se) and
## <case>_fit.csv (chisq df npar) with sprintf("%.17g").
suppressPackageStartupMessages(library(lavaan))
hs <- read.csv("sem_engine/datasets/holzinger_swineford_1939.csv")
out <- "tests/reference/scale"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
fmt <- function(x) ifelse(is.na(x), "", sprintf("%.17g", x))
write_case <- function(name, fit) {
  pe <- parameterEstimates(fit)
  pe <- pe[pe$op != ":=", c("lhs", "op", "rhs", "est", "se")]
  pe$est <- fmt(pe$est); pe$se <- fmt(pe$se)
  write.csv(pe, file.path(out, paste0(name, "_estimates.csv")), row.names = FALSE, quote = FALSE)
  fm <- fitMeasures(fit, c("chisq", "df", "npar", "cfi", "rmsea", "srmr"))
  write.csv(data.frame(measure = names(fm), value = fmt(unname(fm))),
            file.path(out, paste0(name, "_fit.csv")), row.names = FALSE, quote = FALSE)
}
## A MIMIC model with free covariates: sem_engine raised numpy's LinAlgError (issue 22).
write_case("mimic_free_x", sem("visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6
                                 visual ~ ageyr; textual ~ ageyr + grade", data = hs, fixed.x = FALSE))
## The one-factor model of issue 22's scale cases, on the clean data.
write_case("one_factor", cfa("f =~ x1 + x2 + x3 + x4", data = hs))
cat("scale fixtures written\n")
