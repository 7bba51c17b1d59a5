"""CFA -> structural model -> mediation on raw data: the steps of README.md's walkthrough.

    python examples/thesis/walkthrough.py

Runs on thesis_synthetic.csv; replace it with your own data frame and the three .lav files with
your own models.
"""

from pathlib import Path

import pandas as pd

import sem_engine as se

HERE = Path(__file__).resolve().parent
COLUMNS = ["chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_lower", "rmsea_ci_upper", "srmr"]


def model(name: str) -> str:
    return (HERE / f"{name}.lav").read_text()


if __name__ == "__main__":
    pd.set_option("display.width", 120)
    data = pd.read_csv(HERE / "thesis_synthetic.csv")

    # Step 1: the measurement model
    cfa = se.cfa(model("cfa"), data=data, likelihood="wishart")
    print(cfa)
    print(cfa.fit_measures()[COLUMNS].round(3).to_string())
    std = cfa.standardized()
    print(std[std["op"] == "=~"].round(3).to_string(index=False))
    print(cfa.reliability()[["n_indicators", "ave", "cr", "omega", "alpha"]].round(3))
    print(cfa.discriminant_validity().fornell_larcker.round(3).to_string(na_rep=""))

    # Step 2: the structural models, and the chi-square difference tests
    original = se.sem(model("original"), data=data, likelihood="wishart")
    revised = se.sem(model("revised"), data=data, likelihood="wishart")
    print(se.compare(cfa, original, revised, names=["cfa", "original", "revised"])
          [["Df", "Chisq", "Chisq_diff", "Df_diff", "pvalue"]].round(3))
    std = revised.standardized()
    print(std[std["op"].isin(["~", ":="])].round(3).to_string(index=False))
    print(revised.r2()[["NPC", "KR", "KSH"]].round(3).to_string())

    # Step 3: mediation -- standardized effects with bias-corrected bootstrap intervals
    boot = revised.bootstrap(1000, seed=1, ci="bc", level=0.90)
    print(boot)
    table = revised.effects(kind="std.all", bootstrap=boot)
    print(table[["effect", "lhs", "rhs", "est", "boot_se", "boot_ci_lower", "boot_ci_upper", "boot_pvalue"]]
          .round(3).to_string(index=False))
