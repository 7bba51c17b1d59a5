## Writers shared by the make_*_fixtures.R scripts (source("tests/reference/common.R") from the
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
