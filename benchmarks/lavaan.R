# lavaan's side of benchmarks/run.py: Rscript benchmarks/lavaan.R TASKS.csv RESULTS.csv
#
# TASKS.csv: name, kind ("fit" or "bootstrap"), model (lavaan syntax file), data (CSV), replicates,
# repeats, missing ("listwise" or "ml"), lavaan_replicates.  A fit task times sem(missing = ) with
# standard errors: the first call ("cold") and the best of up to `repeats` calls ("warm"; fewer
# once they have taken 5 s).  A bootstrap task times bootstrapLavaan(type = "ordinary") of a
# fitted model plus percentile intervals of its draws; with lavaan_replicates < replicates it runs
# that many and scales the time to `replicates`.
# Memory as run.py measures it: the process's peak resident size (VmHWM), reset before each task
# through /proc/self/clear_refs (Linux), and its growth over the resident size at the start.
suppressPackageStartupMessages(library(lavaan))

args <- commandArgs(trailingOnly = TRUE)
tasks <- read.csv(args[1], stringsAsFactors = FALSE)

status_mib <- function(field) {
  line <- grep(paste0("^", field), readLines("/proc/self/status"), value = TRUE)
  as.numeric(strsplit(trimws(sub(paste0(field, ":"), "", line)), " ")[[1]][1]) / 1024
}
start_task <- function() {
  try(writeLines("5", "/proc/self/clear_refs"), silent = TRUE)
  status_mib("VmRSS")
}
seconds <- function(expr) {
  t0 <- proc.time()[["elapsed"]]
  force(expr)
  proc.time()[["elapsed"]] - t0
}
best_of <- function(f, repeats, budget = 5) {
  times <- numeric(0)
  while (length(times) < repeats && sum(times) < budget) times <- c(times, seconds(f()))
  min(times)
}

rows <- list()
add <- function(task, s, start, note = "", chisq = NA) {
  peak <- status_mib("VmHWM")
  rows[[length(rows) + 1]] <<- data.frame(task = task, seconds = s, peak_mib = peak,
                                          growth_mib = peak - start, note = note, chisq = chisq)
}

for (i in seq_len(nrow(tasks))) {
  t <- tasks[i, ]
  model <- paste(readLines(t$model), collapse = "\n")
  data <- read.csv(t$data)
  if (t$kind == "fit") {
    start <- start_task()
    cold <- seconds(fit <- sem(model, data = data, missing = t$missing))
    warm <- best_of(function() sem(model, data = data, missing = t$missing), t$repeats)
    chisq <- unname(fitMeasures(fit, "chisq"))
    add(paste(t$name, "+ SE cold"), cold, start, "first call in the R session", chisq)
    add(paste(t$name, "+ SE warm"), warm, start, "", chisq)
  } else {
    fit <- sem(model, data = data, missing = t$missing)
    start <- start_task()
    set.seed(1)
    s <- seconds({
      draws <- bootstrapLavaan(fit, R = t$lavaan_replicates, type = "ordinary", FUN = "coef")
      ci <- apply(draws, 2, quantile, probs = c(0.025, 0.975), na.rm = TRUE)
    })
    failed <- sprintf("%d failed", length(attr(draws, "error.idx")))
    if (t$lavaan_replicates < t$replicates) {
      failed <- sprintf("%s; %d replicates timed (%.2f s), scaled to %d", failed, t$lavaan_replicates, s,
                        t$replicates)
      s <- s * t$replicates / t$lavaan_replicates
    }
    add(paste(t$name, "perc"), s, start, failed)
  }
}
write.csv(do.call(rbind, rows), args[2], row.names = FALSE)
