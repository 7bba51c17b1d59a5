"""Fit lavaan's two tutorial models and print their estimates."""

import sem_engine as se

HS_MODEL = """
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9
"""

POLDEM_MODEL = """
ind60 =~ x1 + x2 + x3
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
"""

if __name__ == "__main__":
    hs = se.cfa(HS_MODEL, data=se.datasets.holzinger_swineford_1939())
    print(hs)
    print(hs.estimates().round(3).to_string())
    poldem = se.sem(POLDEM_MODEL, data=se.datasets.political_democracy())
    print(poldem)
    print(poldem.estimates().round(3).to_string())
