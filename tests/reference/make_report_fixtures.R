# lavaan's summary() text for the layout tests of sem_engine's summary (tests/test_report.py, tests/test_cli.py).
# Run from the repository root:  Rscript tests/reference/make_report_fixtures.R
# Writes tests/reference/report/<case>_summary.txt (lavaan 0.6.14 output, byte for byte).
suppressMessages(library(lavaan))
options(width = 200)   # lavaan wraps wider sections (ci = TRUE with standardized = TRUE) at the width

model_of <- function(case) paste(readLines(file.path("tests/reference", case, "model.lav")), collapse = "\n")
hs <- read.csv("sem_engine/datasets/holzinger_swineford_1939.csv")
pd <- read.csv("sem_engine/datasets/political_democracy.csv")
out_dir <- "tests/reference/report"
dir.create(out_dir, showWarnings = FALSE)

write_summary <- function(name, fit, ...) {
  text <- capture.output(summary(fit, ...))
  writeLines(text, file.path(out_dir, paste0(name, "_summary.txt")))
  cat("==", name, "\n")
}

write_summary("poldem", sem(model_of("poldem"), data = pd),
              fit.measures = TRUE, standardized = TRUE, rsquare = TRUE)
write_summary("hs_cfa_meanstructure", cfa(model_of("hs_cfa_meanstructure"), data = hs, meanstructure = TRUE),
              ci = TRUE)
write_summary("mimic", sem(model_of("mimic"), data = hs), rsquare = TRUE)
write_summary("hs_cfa_observed", cfa(model_of("hs_cfa_observed"), data = hs, information = "observed"))
write_summary("hs_cfa_mlm", cfa(model_of("hs_cfa"), data = hs, estimator = "MLM"), fit.measures = TRUE)
write_summary("hs_cfa_mlr", cfa(model_of("hs_cfa"), data = hs, estimator = "MLR"), fit.measures = TRUE)

# the thesis example (sem-engine example thesis): revised model, synthetic raw data, AMOS's likelihood
thesis <- read.csv("examples/thesis/thesis_synthetic.csv")
write_summary("thesis_revised",
              sem(paste(readLines("examples/thesis/revised.lav"), collapse = "\n"), data = thesis,
                  likelihood = "wishart"),
              fit.measures = TRUE, standardized = TRUE, rsquare = TRUE, ci = TRUE)

# full-information ML: Political Democracy with values removed from x1 (rows 1-5) and y3 (rows 11-15)
pd_missing <- pd
pd_missing$x1[1:5] <- NA
pd_missing$y3[11:15] <- NA
write_summary("poldem_fiml", sem(model_of("poldem"), data = pd_missing, missing = "ml"),
              fit.measures = TRUE, standardized = TRUE, rsquare = TRUE)
