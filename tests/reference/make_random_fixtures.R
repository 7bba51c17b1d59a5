#!/usr/bin/env Rscript
## Random-model differential fixtures (issue 24) for tests/test_random_models.py: a seeded stream of
## random models and options, each fitted by lavaan 0.6.14 and polished (common.R), written only
## when lavaan converged without warning about identification, positive definiteness,
## standard errors or convergence.  Run from the repository root:
##
##     Rscript tests/reference/make_random_fixtures.R
##
## Attempt i draws its model from set.seed(SEED + i) alone, so a case's id, model and numbers do
## not depend on the other attempts.  Writes tests/reference/random/:
##
##   cases.json     one object per case (a JSON array, one case a line): id, family, model (lavaan
##                  syntax), lavaan_call (the call as R code), lavaan_options (lavaan's names),
##                  options (the sem_engine keywords), features (tags), and how to rebuild the
##                  input: data = {source ("hs"/"pd": sem_engine/datasets/*.csv), columns, group,
##                  scale {column: factor}, missing {column: [0-based rows set to NA]}} for raw
##                  data, or sample = [{names, cov (divisor N-1, rows), mean or null, nobs}, one
##                  per group] for simulated covariance input.  Numbers are %.17g.
##   estimates.csv  case,lhs,op,rhs,group,free,label,est,se: parTable(fit) without "==" rows
##                  (free = 1 for a free parameter; ":=" rows have group 0 and free 0).
##   fit.csv        case,measure,value: fitMeasures() of npar chisq df cfi tli rmsea srmr aic bic
##                  baseline.chisq baseline.df logl unrestricted.logl, and under MLM/MLR also
##                  chisq.scaled chisq.scaling.factor cfi.scaled tli.scaled rmsea.scaled
##                  cfi.robust tli.robust rmsea.robust ("." -> "_").
##
## Raw data: data[[v]] <- data[[v]] * scale[[v]] for each scaled column, then the missing cells
## are set to NA; rows are those of the CSV in file order.
suppressPackageStartupMessages(library(lavaan))
source("tests/reference/common.R")
RNGkind("Mersenne-Twister", "Inversion", "Rejection")

SEED <- 24000L
N_CASES <- 180L
MAX_ATTEMPTS <- 700L
OUT <- "tests/reference/random"
dir.create(OUT, showWarnings = FALSE, recursive = TRUE)

HS <- read.csv("sem_engine/datasets/holzinger_swineford_1939.csv", stringsAsFactors = FALSE)
PD <- read.csv("sem_engine/datasets/political_democracy.csv")
POOLS <- list(
  hs = list(ind = paste0("x", 1:9), cov = c("ageyr", "agemo", "sex", "grade")),
  pd = list(ind = c(paste0("y", 1:8), paste0("x", 1:3)), cov = character(0)),
  sim = list(ind = paste0("v", 1:16), cov = paste0("z", 1:3))
)

## ---- small helpers ---------------------------------------------------------------------------
pick <- function(x, n = 1) x[sample.int(length(x), n)]
coin <- function(p) runif(1) < p
shuffle <- function(x) x[sample.int(length(x))]

jstr <- function(s) {
  s <- gsub("\\", "\\\\", s, fixed = TRUE)
  s <- gsub("\"", "\\\"", s, fixed = TRUE)
  s <- gsub("\n", "\\n", s, fixed = TRUE)
  paste0("\"", s, "\"")
}
## A minimal JSON writer: named list -> object, unnamed list -> array, atomic of length 1 ->
## scalar unless wrapped in I() (then an array, as is any other length); numbers as %.17g.
json <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (!length(x)) return(if (is.null(names(x))) "[]" else "{}")
    if (!is.null(names(x)))
      return(paste0("{", paste0(jstr(names(x)), ":", vapply(x, json, ""), collapse = ","), "}"))
    return(paste0("[", paste(vapply(x, json, ""), collapse = ","), "]"))
  }
  arr <- inherits(x, "AsIs") || length(x) != 1
  x <- unclass(x)
  v <- if (is.logical(x)) ifelse(x, "true", "false")
       else if (is.numeric(x)) sprintf("%.17g", as.numeric(x))
       else jstr(as.character(x))
  if (arr) paste0("[", paste(v, collapse = ","), "]") else v
}
obj <- function() structure(list(), names = character(0))

## ---- model generators ------------------------------------------------------------------------
## A generator returns list(lines, lv (factor names), ind (indicators), x (observed exogenous
## covariates), ov (all observed variables), defined (TRUE if ":=" lines), tags).

## Indicators of the data sets come in their published blocks (HS: x1-x3, x4-x6, x7-x9; PD: y1-y4,
## y5-y8, x1-x3) in random order, so that a random measurement model mostly follows the data's
## structure (fewer improper solutions); simulated variables come in random order.
BLOCKS <- list(hs = list(paste0("x", 1:3), paste0("x", 4:6), paste0("x", 7:9)),
               pd = list(paste0("y", 1:4), paste0("y", 5:8), paste0("x", 1:3)))
new_pool <- function(src) {
  e <- new.env()
  e$ind <- if (src == "sim") shuffle(POOLS[[src]]$ind)
           else unlist(lapply(shuffle(BLOCKS[[src]]), shuffle), use.names = FALSE)
  e$cov <- shuffle(POOLS[[src]]$cov)
  e
}
take <- function(pool, n, what = "ind") {
  stopifnot(length(pool[[what]]) >= n)
  out <- pool[[what]][seq_len(n)]
  pool[[what]] <- pool[[what]][-seq_len(n)]
  out
}

## Indicator counts for k factors, each in [nmin, nmax], total at most `avail`.
counts <- function(k, nmin, nmax, avail) {
  n <- sample(nmin:nmax, k, replace = TRUE)
  while (sum(n) > avail) {
    i <- which(n > nmin)
    if (!length(i)) return(NULL)
    i <- if (length(i) == 1) i else pick(i)
    n[i] <- n[i] - 1
  }
  n
}

## Measurement part: factors f<j> with their indicators, optional cross-loadings, residual
## covariances and a shared loading label.
measurement <- function(pool, k, nmin, nmax, std_lv, prefix = "f", cross = TRUE) {
  n <- counts(k, nmin, nmax, length(pool$ind))
  if (is.null(n)) return(NULL)
  fac <- paste0(prefix, seq_len(k))
  ind <- lapply(n, function(m) take(pool, m))
  names(ind) <- fac
  terms <- lapply(ind, function(v) v)
  tags <- character(0)
  ## cross-loadings onto indicators of other factors (appended, so markers stay first)
  if (cross && k > 1) {
    for (r in seq_len(sample(0:2, 1, prob = c(0.55, 0.3, 0.15)))) {
      j <- pick(seq_len(k)); i <- pick(setdiff(seq_len(k), j))
      v <- pick(ind[[i]])
      if (!(v %in% terms[[j]])) { terms[[j]] <- c(terms[[j]], v); tags <- union(tags, "cross_loading") }
    }
  }
  ## equal loadings by a shared label
  mods <- lapply(terms, function(v) rep("", length(v)))
  if (coin(0.25)) {
    slots <- do.call(rbind, lapply(seq_len(k), function(j) {
      s <- seq_along(terms[[j]]); if (!std_lv) s <- s[-1]
      if (length(s)) cbind(j, s) else NULL
    }))
    if (!is.null(slots) && nrow(slots) >= 2) {
      two <- slots[sample.int(nrow(slots), 2), , drop = FALSE]
      for (r in 1:2) mods[[two[r, 1]]][two[r, 2]] <- "lam*"
      tags <- union(tags, "equal_labels")
    }
  }
  lines <- vapply(seq_len(k), function(j)
    paste0(fac[j], " =~ ", paste0(mods[[j]], terms[[j]], collapse = " + ")), "")
  ## residual covariances between indicators
  all_ind <- unlist(ind, use.names = FALSE)
  pairs <- character(0)
  for (r in seq_len(sample(0:2, 1, prob = c(0.55, 0.3, 0.15)))) {
    pr <- sort(pick(all_ind, 2))
    if (paste(pr, collapse = " ") %in% pairs) next
    pairs <- c(pairs, paste(pr, collapse = " "))
    lines <- c(lines, paste(pr[1], "~~", pr[2]))
    tags <- union(tags, "residual_cov")
  }
  list(lines = lines, lv = fac, ind = all_ind, by = ind, tags = tags)
}

## Random DAG among `nodes` (in order): each later node regressed on previous ones with prob p.
dag <- function(nodes, p = 0.7, first_exo = 1) {
  edges <- list()
  for (j in seq_along(nodes)[-seq_len(first_exo)]) {
    if (coin(p) || (j == length(nodes) && !length(edges))) {
      prev <- nodes[seq_len(j - 1)]
      edges[[nodes[j]]] <- pick(prev, sample.int(min(3, length(prev)), 1))
    }
  }
  edges
}
reg_lines <- function(edges) {
  vapply(names(edges), function(y) paste(y, "~", paste(edges[[y]], collapse = " + ")), "")
}

gen_cfa <- function(pool, src, std_lv) {
  k <- if (src == "hs") sample(1:3, 1) else sample(1:4, 1)
  m <- measurement(pool, k, if (k == 1) 3 else 2, 5, std_lv)
  if (is.null(m)) return(NULL)
  list(lines = m$lines, lv = m$lv, ind = m$ind, x = character(0), tags = c(paste0("cfa_", k), m$tags))
}

gen_second_order <- function(pool, src, std_lv) {
  k <- if (src == "sim") sample(3:4, 1) else 3
  m <- measurement(pool, k, 2, 4, std_lv, cross = FALSE)
  if (is.null(m)) return(NULL)
  g <- paste0("g =~ ", paste(m$lv, collapse = " + "))
  list(lines = c(m$lines, g), lv = c(m$lv, "g"), ind = m$ind, x = character(0),
       tags = c("second_order", m$tags))
}

gen_mimic <- function(pool, src, std_lv) {
  k <- sample(1:2, 1)
  m <- measurement(pool, k, 3, 4, std_lv, cross = FALSE)
  if (is.null(m)) return(NULL)
  q <- sample(1:min(3, length(pool$cov)), 1)
  x <- take(pool, q, "cov")
  lines <- m$lines
  for (f in m$lv) lines <- c(lines, paste(f, "~", paste(pick(x, sample.int(q, 1)), collapse = " + ")))
  tags <- c("mimic", m$tags)
  nd <- sample(0:2, 1, prob = c(0.3, 0.45, 0.25))
  if (nd) {
    cand <- unlist(lapply(m$by, function(v) v[-1]), use.names = FALSE)
    for (v in pick(cand, nd)) lines <- c(lines, paste(v, "~", pick(x)))
    tags <- c(tags, "direct_effect")
  }
  list(lines = lines, lv = m$lv, ind = m$ind, x = x, tags = tags)
}

gen_sem <- function(pool, src, std_lv) {
  k <- if (src == "hs") sample(2:3, 1) else sample(2:4, 1)
  m <- measurement(pool, k, if (src == "hs") 3 else 2, 4, std_lv)
  if (is.null(m)) return(NULL)
  edges <- dag(m$lv)
  tags <- c("structural", m$tags)
  lab <- lapply(edges, function(t) rep("", length(t)))
  defined <- character(0)
  ## a chain w -> u -> y gets labels a, b and ind := a*b
  chains <- list()
  for (y in names(edges)) for (u in intersect(edges[[y]], names(edges))) for (w in edges[[u]])
    chains[[length(chains) + 1]] <- c(w, u, y)
  if (length(chains) && coin(0.6)) {
    ch <- chains[[pick(seq_along(chains))]]
    lab[[ch[2]]][edges[[ch[2]]] == ch[1]] <- "a*"
    lab[[ch[3]]][edges[[ch[3]]] == ch[2]] <- "b*"
    defined <- "ind := a*b"
    tags <- c(tags, "defined")
  } else if (sum(lengths(edges)) >= 2 && coin(0.3)) {   # two structural paths share a label
    slots <- do.call(rbind, lapply(names(edges), function(y) cbind(y, seq_along(edges[[y]]))))
    two <- slots[sample.int(nrow(slots), 2), , drop = FALSE]
    for (r in 1:2) lab[[two[r, 1]]][as.integer(two[r, 2])] <- "beta*"
    tags <- union(tags, "equal_labels")
  }
  lines <- vapply(names(edges), function(y) paste(y, "~", paste0(lab[[y]], edges[[y]], collapse = " + ")), "")
  x <- character(0)
  if (length(pool$cov) && coin(0.35)) {
    x <- take(pool, 1, "cov")
    lines <- c(lines, paste(pick(m$lv), "~", x))
    tags <- c(tags, "covariate")
  }
  list(lines = c(m$lines, lines, defined), lv = m$lv, ind = m$ind, x = x, tags = tags)
}

gen_path <- function(pool, src, std_lv) {
  avail <- c(pool$ind, pool$cov)
  n <- sample(3:min(6, length(avail)), 1)
  nodes <- pick(avail, n)
  n_exo <- sample(1:2, 1)
  edges <- dag(nodes, p = 0.8, first_exo = n_exo)
  if (!length(edges)) return(NULL)
  lines <- reg_lines(edges)
  tags <- "path"
  if (coin(0.25)) {               # two paths share a label
    rows <- which(vapply(edges, length, 1L) >= 1)
    if (length(rows) >= 2) {
      r <- pick(rows, 2)
      for (j in r) lines[j] <- sub("~ ", "~ eq*", lines[j], fixed = TRUE)
      tags <- c(tags, "equal_labels")
    }
  }
  endo <- names(edges)
  if (length(endo) >= 2 && coin(0.3)) {
    pr <- pick(endo, 2)
    if (!(pr[1] %in% edges[[pr[2]]]) && !(pr[2] %in% edges[[pr[1]]])) {
      lines <- c(lines, paste(pr[1], "~~", pr[2])); tags <- c(tags, "residual_cov")
    }
  }
  used <- unique(c(endo, unlist(edges)))
  x <- setdiff(used, endo)
  list(lines = lines, lv = character(0), ind = endo, x = x, tags = tags)
}

gen_mediation <- function(pool, src, std_lv) {
  latent <- src != "pd" && coin(0.4)
  nm <- sample(1:2, 1)
  tags <- "mediation"
  lines <- character(0)
  if (latent) {
    m <- measurement(pool, 1 + nm, 3, 3, std_lv, prefix = "l", cross = FALSE)
    if (is.null(m)) return(NULL)
    lines <- m$lines
    med <- m$lv[seq_len(nm)]; y <- m$lv[nm + 1]
    x <- if (length(pool$cov)) take(pool, 1, "cov") else take(pool, 1)
    ind <- m$ind; lv <- m$lv
    tags <- c(tags, "latent", m$tags)
  } else {
    avail <- c(pool$cov, pool$ind)
    vs <- pick(avail, nm + 2)
    x <- vs[1]; med <- vs[1 + seq_len(nm)]; y <- vs[nm + 2]
    ind <- c(med, y); lv <- character(0)
  }
  for (i in seq_len(nm)) lines <- c(lines, sprintf("%s ~ a%d*%s", med[i], i, x))
  lines <- c(lines, sprintf("%s ~ %s + c*%s", y, paste(sprintf("b%d*%s", seq_len(nm), med), collapse = " + "), x))
  if (nm == 2 && coin(0.5)) { lines <- c(lines, paste(med[1], "~~", med[2])); tags <- c(tags, "residual_cov") }
  ind_lines <- sprintf("ind%d := a%d*b%d", seq_len(nm), seq_len(nm), seq_len(nm))
  total <- sprintf("total := c + %s", paste(sprintf("a%d*b%d", seq_len(nm), seq_len(nm)), collapse = " + "))
  list(lines = c(lines, ind_lines, total), lv = lv, ind = ind, x = x, tags = c(tags, "defined"))
}

GENERATORS <- list(cfa = gen_cfa, second_order = gen_second_order, mimic = gen_mimic,
                   structural = gen_sem, path = gen_path, mediation = gen_mediation)

## ---- simulated covariance input --------------------------------------------------------------
## Population: the model's own parameter table with random values plus 1-2 small extra paths
## (misspecification), simulated by simulateData(); sample covariances of the (rescaled) draws.
population <- function(model, lv, ind) {
  pt <- lavaanify(model, auto = TRUE, fixed.x = FALSE, meanstructure = FALSE)
  pt <- pt[pt$op %in% c("=~", "~", "~~"), ]
  lvs <- unique(pt$lhs[pt$op == "=~"])
  endo <- unique(pt$lhs[pt$op == "~"])
  val <- numeric(nrow(pt))
  for (r in seq_len(nrow(pt))) {
    op <- pt$op[r]; l <- pt$lhs[r]; rr <- pt$rhs[r]
    val[r] <- if (op == "=~") runif(1, 0.6, 1.3)
      else if (op == "~") runif(1, 0.2, 0.5) * sample(c(-1, 1), 1, prob = c(0.2, 0.8))
      else if (l == rr) {
        if (l %in% lvs) (if (l %in% endo || l %in% pt$rhs[pt$op == "=~"]) runif(1, 0.3, 0.7) else runif(1, 0.6, 1.4))
        else if (l %in% endo || l %in% pt$rhs[pt$op == "=~"]) runif(1, 0.3, 0.8) else runif(1, 0.6, 1.6)
      } else NA
  }
  v <- setNames(val[pt$op == "~~" & pt$lhs == pt$rhs], pt$lhs[pt$op == "~~" & pt$lhs == pt$rhs])
  cv <- which(pt$op == "~~" & pt$lhs != pt$rhs)
  for (r in cv) {
    user <- pt$user[r] == 1
    rho <- if (user) runif(1, 0.1, 0.3) else if (pt$lhs[r] %in% endo) 0 else runif(1, 0.15, 0.45)
    val[r] <- rho * sqrt(v[[pt$lhs[r]]] * v[[pt$rhs[r]]])
  }
  lines <- sprintf("%s %s %s*%s", pt$lhs, pt$op, sprintf("%.6f", val), pt$rhs)
  ## misspecification: a small extra loading or path
  if (length(lvs) >= 2) {
    for (r in seq_len(sample(1:2, 1))) {
      f <- pick(lvs); cand <- setdiff(pt$rhs[pt$op == "=~" & pt$lhs != f], c(lvs, pt$rhs[pt$op == "=~" & pt$lhs == f]))
      if (length(cand)) lines <- c(lines, sprintf("%s =~ %.6f*%s", f, runif(1, 0.1, 0.25), pick(cand)))
    }
  } else {
    obs <- setdiff(unique(c(pt$lhs, pt$rhs)), lvs)
    pr <- pick(obs, 2)
    lines <- c(lines, sprintf("%s ~~ %.6f*%s", pr[1], 0.1 * sqrt(v[[pr[1]]] * v[[pr[2]]]), pr[2]))
  }
  obs <- setdiff(unique(c(pt$lhs, pt$rhs)), lvs)
  c(lines, sprintf("%s ~ %.6f*1", obs, runif(length(obs), -2, 3)))
}

simulate_sample <- function(model, lv, ind, groups, scale) {
  pop <- population(model, lv, ind)
  out <- list()
  for (g in seq_len(groups)) {
    n <- sample(c(150, 200, 250, 300, 400, 600, 1000), 1)
    popg <- pop
    if (g > 1) {   # another group: values moved by up to +-12%, means shifted
      popg <- vapply(pop, function(line) {
        m <- regmatches(line, regexec("^(\\S+ \\S+ )(-?[0-9.]+)(\\*.*)$", line))[[1]]
        if (!length(m)) return(line)
        sprintf("%s%.6f%s", m[2], as.numeric(m[3]) * runif(1, 0.88, 1.12) +
                  if (grepl("~ \\S+\\*1$", line)) runif(1, -0.3, 0.3) else 0, m[4])
      }, "", USE.NAMES = FALSE)
    }
    X <- simulateData(paste(popg, collapse = "\n"), sample.nobs = n)
    for (v in names(scale)) X[[v]] <- X[[v]] * scale[[v]]
    out[[g]] <- list(S = cov(X), m = colMeans(X), n = n)
  }
  out
}

## ---- making lavaan's solution exact ----------------------------------------------------------
## With columns in units from 0.01 to 100, nlminb and the BFGS polish can stop short of the optimum
## (by up to 0.5 in chi-square).  refine() iterates x <- x - K (K'MK)^-1 K' g(x) on lavaan's own
## objective: g is lavaan's analytic gradient (lav_model_gradient), K spans the null space of the
## equality constraints' Jacobian, and M, fixed, is lavaan's numerical Hessian at the solution
## (where positive definite) or else, or when that iteration does not contract, the expected
## information (scoring).  It stops when the step is below 1e-12 standard errors (SEs from the
## expected information) or stops shrinking below 1e-9 (rounding), and re-evaluates lavaan at the result with optim.method = "none"
## (estimates kept, everything else computed by lavaan); step_in_se() measures the step left there.
constraint_basis <- function(fit, n) {
  J <- fit@Model@ceq.JAC
  if (is.null(J) || !length(J) || !nrow(J)) return(diag(n))
  q <- qr(t(J))
  qr.Q(q, complete = TRUE)[, -seq_len(q$rank), drop = FALSE]
}
step_in_se <- function(fit) {
  g <- as.numeric(lavInspect(fit, "gradient"))
  K <- constraint_basis(fit, length(g))
  IK <- t(K) %*% lavInspect(fit, "information.expected") %*% K
  d <- K %*% solve(IK, t(K) %*% g)
  max(abs(d) / sqrt(pmax(diag(K %*% solve(IK) %*% t(K)), 0) / lavInspect(fit, "ntotal")))
}
refine <- function(fit, args) {
  x0 <- lavaan:::lav_model_get_parameters(fit@Model)
  grad <- function(x) as.numeric(lavaan:::lav_model_gradient(
    lavmodel = lavaan:::lav_model_set_parameters(fit@Model, x), lavsamplestats = fit@SampleStats,
    lavdata = fit@Data, lavcache = fit@Cache))
  K <- constraint_basis(fit, length(x0))
  IK <- t(K) %*% lavInspect(fit, "information.expected") %*% K
  se <- sqrt(pmax(diag(K %*% solve(IK) %*% t(K)), 0) / lavInspect(fit, "ntotal"))
  HK <- tryCatch({ h <- t(K) %*% lavInspect(fit, "hessian") %*% K; (h + t(h)) / 2 }, error = function(e) NULL)
  run <- function(M) {
    x <- x0; sizes <- numeric(0)
    for (it in 1:400) {
      d <- -as.numeric(K %*% solve(M, t(K) %*% grad(x)))
      size <- max(abs(d) / se)
      if (!is.finite(size)) return(NULL)
      if (length(sizes) >= 3 && size > max(tail(sizes, 3))) {   # not contracting
        if (min(sizes) > 1e-9) return(NULL)
        break                                                   # at the rounding floor
      }
      x <- x + d; sizes <- c(sizes, size)
      if (size < 1e-12) break
    }
    list(x = x, iterations = length(sizes))
  }
  r <- NULL
  if (!is.null(HK) && min(eigen(HK, symmetric = TRUE, only.values = TRUE)$values) > 0) r <- run(HK)
  if (is.null(r)) r <- run(IK)
  if (is.null(r)) return(NULL)
  pt <- parTable(fit)
  idx <- which(pt$free > 0)
  pt$est[idx] <- r$x[pt$free[idx]]
  a <- args
  a$start <- pt
  a$optim.method <- "none"
  a$fixed.x <- lavInspect(fit, "options")$fixed.x
  new <- suppressWarnings(do.call("sem", a))
  list(fit = new, steps = r$iterations, size = step_in_se(new))
}

## lavaan fits the baseline (independence) model numerically and can end far from its optimum on
## badly scaled data without a warning (e.g. twice the chi-square).  With complete data its optimum
## is known: each group contributes n_g (sum_y log s_jj + log|S_xx| - log|S|), S_xx the fixed.x
## covariates' block.  Under FIML the baseline's own Newton step is checked instead.
baseline_error <- function(fit) {
  lav <- fitMeasures(fit, "baseline.chisq")
  if (lavInspect(fit, "options")$missing == "ml") {
    base <- lavaan:::lav_object_independence(fit)
    if (abs(fitMeasures(base, "chisq") - lav) > 1e-8 * lav) return(Inf)
    return(1e-3 * step_in_se(base))   # its chi-square moves by ~size^2: 1e-4 SE is plenty
  }
  ss <- lavInspect(fit, "sampstat")
  if (lavInspect(fit, "ngroups") == 1) ss <- list(ss)
  nobs <- unlist(lavInspect(fit, "nobs"))
  x <- if (lavInspect(fit, "options")$fixed.x) lavNames(fit, "ov.x") else character(0)
  exact <- 0
  for (g in seq_along(ss)) {
    S <- ss[[g]]$cov; S <- matrix(S, nrow(S), dimnames = dimnames(S))
    y <- setdiff(rownames(S), x)
    exact <- exact + nobs[g] * (sum(log(diag(S)[y])) + (if (length(x)) determinant(S[x, x, drop = FALSE])$modulus else 0) -
                                 determinant(S)$modulus)
  }
  abs(as.numeric(exact) - lav) / max(1, lav)
}

## ---- one attempt -----------------------------------------------------------------------------
BAD <- "identif|vcov|positive definite|converge|standard error|singular|empty"

fit_lavaan <- function(args) {
  warns <- character(0)
  fit <- withCallingHandlers(tryCatch(do.call("sem", args), error = function(e) e),
                             warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  list(fit = fit, warns = warns)
}

attempt <- function(i) {
  set.seed(SEED + i)
  src <- sample(c("hs", "pd", "sim"), 1, prob = c(0.4, 0.15, 0.45))
  fams <- if (src == "pd") c("cfa", "second_order", "structural", "path", "mediation")
          else names(GENERATORS)
  family <- pick(fams)
  pool <- new_pool(src)
  std_lv <- coin(0.35)
  gm <- GENERATORS[[family]](pool, src, std_lv)
  if (is.null(gm)) return("no model drawn")
  tags <- gm$tags
  if (src == "sim") {
    mode <- sample(c("cov", "cov_mean", "cov_groups"), 1, prob = c(0.35, 0.35, 0.3))
  } else {
    modes <- c("ml", "fiml", "mlr", "mlm", if (src == "hs") "groups")
    mode <- sample(modes, 1, prob = c(0.3, 0.27, 0.15, 0.12, if (src == "hs") 0.16)[seq_along(modes)])
  }
  if (mode != "cov" && coin(0.15)) {      # intercept statements switch the mean structure on
    gm$lines <- c(gm$lines, paste(pick(gm$ind, sample.int(min(2, length(gm$ind)), 1)), "~ 1"))
    tags <- c(tags, "intercept")
  }
  model <- paste(gm$lines, collapse = "\n")
  has_lv <- length(gm$lv) > 0
  lav <- list(); eng <- obj()
  if (has_lv && std_lv) { lav$std.lv <- TRUE; eng$std_lv <- TRUE; tags <- c(tags, "std_lv") }
  if (length(gm$lv) >= 2 && coin(0.2)) { lav$orthogonal <- TRUE; eng$orthogonal <- TRUE; tags <- c(tags, "orthogonal") }
  if (length(gm$x) && coin(0.45)) { lav$fixed.x <- FALSE; eng$fixed_x <- FALSE; tags <- c(tags, "fixed_x_false") }
  else if (length(gm$x)) tags <- c(tags, "fixed_x_true")
  ov <- lavNames(lavaanify(model), "ov")
  ## scaling: 10^U(-2, 2) on each of a random subset of the observed variables
  scale <- list()
  if (coin(0.5)) {
    for (v in pick(ov, sample.int(length(ov), 1))) scale[[v]] <- 10^runif(1, -2, 2)
    tags <- c(tags, "rescaled")
  }
  if (mode %in% c("ml", "mlr", "mlm", "cov_mean") && coin(0.3)) {
    lav$meanstructure <- TRUE; eng$meanstructure <- TRUE; tags <- c(tags, "meanstructure")
  }
  if (mode %in% c("groups", "cov_groups") && has_lv) {
    ge <- sample(list(NULL, "loadings", c("loadings", "intercepts")), 1, prob = c(0.3, 0.35, 0.35))[[1]]
    if (!is.null(ge)) {
      lav$group.equal <- ge; eng$group_equal <- I(ge)
      tags <- c(tags, paste0("group_equal_", paste(ge, collapse = "_")))
    }
  }
  args <- list(model = model)
  case <- list(id = "", family = family, model = model)
  if (src == "sim") {
    groups <- if (mode == "cov_groups") sample(2:3, 1, prob = c(0.75, 0.25)) else 1
    smp <- tryCatch(simulate_sample(model, gm$lv, gm$ind, groups, scale), error = function(e) NULL)
    if (is.null(smp)) return("population not simulated")
    with_mean <- mode != "cov"
    if (groups == 1) {
      args$sample.cov <- smp[[1]]$S[ov, ov]; args$sample.nobs <- smp[[1]]$n
      if (with_mean) args$sample.mean <- smp[[1]]$m[ov]
    } else {
      args$sample.cov <- lapply(smp, function(s) s$S[ov, ov]); args$sample.nobs <- vapply(smp, `[[`, 1, "n")
      args$sample.mean <- lapply(smp, function(s) s$m[ov])
      tags <- c(tags, paste0("groups_", groups))
    }
    tags <- c(tags, if (groups > 1) "cov_input_groups" else if (with_mean) "cov_input_mean" else "cov_input")
    case$sample <- lapply(smp, function(s) list(names = I(ov), cov = lapply(ov, function(v) I(unname(s$S[v, ov]))),
                                                mean = if (with_mean) I(unname(s$m[ov])) else NULL, nobs = s$n))
    call <- sprintf("sem(model, sample.cov = S, sample.nobs = %s%s",
                    if (groups > 1) sprintf("c(%s)", paste(args$sample.nobs, collapse = ", ")) else args$sample.nobs,
                    if (with_mean) ", sample.mean = M" else "")
  } else {
    d <- if (src == "hs") HS else PD
    for (v in names(scale)) d[[v]] <- d[[v]] * scale[[v]]
    miss <- list()
    if (mode == "fiml") {
      fixed <- if (isFALSE(lav$fixed.x)) character(0) else gm$x
      cand <- setdiff(ov, fixed)
      holes <- pick(cand, sample.int(min(4, length(cand)), 1))
      rate <- runif(1, 0.05, 0.15)
      for (v in holes) miss[[v]] <- sort(which(runif(nrow(d)) < rate))
      M <- matrix(FALSE, nrow(d), length(ov), dimnames = list(NULL, ov))
      for (v in holes) M[miss[[v]], v] <- TRUE
      empty <- which(apply(M, 1, all))
      for (v in holes) miss[[v]] <- setdiff(miss[[v]], empty)
      for (v in holes) d[[v]][miss[[v]]] <- NA
      lav$missing <- "ml"; eng$missing <- "ml"; tags <- c(tags, "fiml")
      lav$em.h1.tol <- 1e-12; lav$em.h1.iter.max <- 10000L   # the EM (h1) moments to convergence
    }
    if (mode %in% c("mlr", "mlm")) {
      lav$estimator <- toupper(mode); eng$estimator <- toupper(mode); tags <- c(tags, toupper(mode))
    }
    if (mode == "groups") { lav$group <- "school"; eng$group <- "school"; tags <- c(tags, "groups_2", "raw_groups") }
    args$data <- d
    case$data <- list(source = src, columns = I(ov), group = if (mode == "groups") "school" else NULL,
                      scale = if (length(scale)) scale else obj(),
                      missing = if (length(miss)) lapply(miss, function(r) I(r - 1L)) else obj())
    call <- sprintf("sem(model, data = %s", toupper(src))
  }
  args <- c(args, lav)
  opt_txt <- vapply(names(lav), function(k) {
    v <- lav[[k]]
    paste(k, "=", if (is.character(v)) (if (length(v) > 1) sprintf("c(%s)", paste0("\"", v, "\"", collapse = ", ")) else sprintf("\"%s\"", v)) else as.character(v))
  }, "")
  case$lavaan_call <- paste0(call, paste0(", ", opt_txt, collapse = ""), ")")
  if (!length(lav)) case$lavaan_call <- paste0(call, ")")
  case$lavaan_options <- if (length(lav)) lapply(lav, function(v) if (length(v) > 1) I(v) else v) else obj()
  case$options <- eng
  case$features <- I(unique(tags))

  invisible(capture.output(res <- fit_lavaan(args)))   # lavaan prints matrices at times
  fit <- res$fit
  why <- function(reason) sprintf("%s %s %s: %s", family, src, mode, reason)
  if (inherits(fit, "error")) return(why(conditionMessage(fit)))
  bad <- grep(BAD, res$warns, ignore.case = TRUE, value = TRUE)
  if (length(bad)) return(why(bad[1]))
  if (!lavInspect(fit, "converged")) return(why("not converged"))
  invisible(capture.output(fit <- polish(fit, "sem", args)))   # lavaan prints start matrices at times
  ref <- tryCatch(refine(fit, args), error = function(e) NULL)
  if (is.null(ref) || !is.finite(ref$size) || ref$size > 1e-7) return(why("Newton refinement of lavaan's solution failed"))
  fit <- ref$fit
  case$lavaan_refine_steps <- ref$steps
  case$lavaan_step_in_se <- signif(ref$size, 3)
  berr <- tryCatch(suppressWarnings(baseline_error(fit)), error = function(e) Inf)
  if (!is.finite(berr) || berr > 1e-7) return(why(sprintf("lavaan's baseline model is off its optimum (%.3g)", berr)))
  pt <- parTable(fit)
  pt <- pt[pt$op != "==", ]
  if (any(!is.finite(pt$se[pt$free > 0]))) return(why("standard errors not finite"))
  if (fitMeasures(fit, "df") < 0) return(why("negative df"))
  case$id <- sprintf("r%03d_%s_%s_%s", i, family, src, mode)
  measures <- c("npar", "chisq", "df", "cfi", "tli", "rmsea", "srmr", "aic", "bic", "baseline.chisq",
                "baseline.df", "logl", "unrestricted.logl")
  if (mode %in% c("mlr", "mlm"))
    measures <- c(measures, "chisq.scaled", "chisq.scaling.factor", "cfi.scaled", "tli.scaled", "rmsea.scaled",
                  "cfi.robust", "tli.robust", "rmsea.robust")
  fm_warns <- character(0)
  fm <- withCallingHandlers(fitMeasures(fit, measures), warning = function(w) {
    fm_warns <<- c(fm_warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  if (length(fm_warns)) return(why(paste("fitMeasures():", fm_warns[1])))   # e.g. the baseline model failed
  list(case = case,
       est = data.frame(case = case$id, lhs = pt$lhs, op = pt$op, rhs = pt$rhs, group = pt$group,
                        free = as.integer(pt$free > 0), label = pt$label, est = pt$est, se = pt$se,
                        stringsAsFactors = FALSE),
       fit = data.frame(case = case$id, measure = gsub(".", "_", names(fm), fixed = TRUE), value = unname(fm),
                        stringsAsFactors = FALSE),
       warns = res$warns)
}

cases <- list(); est <- list(); fits <- list(); skipped <- 0L
i <- 0L
while (length(cases) < N_CASES && i < MAX_ATTEMPTS) {
  i <- i + 1L
  r <- tryCatch(attempt(i), error = function(e) paste("error:", conditionMessage(e)))
  if (is.character(r)) {
    cat(sprintf("-- attempt %d skipped: %s\n", i, gsub("\n", " ", substr(r, 1, 110))))
    skipped <- skipped + 1L
    next
  }
  cases[[length(cases) + 1]] <- r$case
  est[[length(est) + 1]] <- r$est
  fits[[length(fits) + 1]] <- r$fit
  cat(sprintf("== %s  chisq %.3f df %d, refined in %d steps to %.2g SE%s\n", r$case$id,
              r$fit$value[r$fit$measure == "chisq"], as.integer(r$fit$value[r$fit$measure == "df"]),
              r$case$lavaan_refine_steps, r$case$lavaan_step_in_se,
              if (length(r$warns)) paste0("  [", paste(unique(substr(r$warns, 1, 60)), collapse = "; "), "]") else ""))
}
con <- file(file.path(OUT, "cases.json"), open = "wb")
writeLines(c("[", paste0(vapply(cases, json, ""), c(rep(",", length(cases) - 1), "")), "]"), con, sep = "\n")
close(con)
write_df(do.call(rbind, est), file.path(OUT, "estimates.csv"))
write_df(do.call(rbind, fits), file.path(OUT, "fit.csv"))
cat(sprintf("%d cases written (%d attempts, %d skipped)\n", length(cases), i, skipped))
