"""A realistic receivables CSV, as French accounting software exports it.

One row per invoice: the customer's account, legal name and SIREN repeated on each of its
invoices, the invoice number, dates as ``31/12/2026``, amounts as ``1 234,56`` and what is
left to pay (``Reste dû``): about 70% of the invoices are paid (0), 10% partly paid, the
rest wholly open. The same seed gives the same file, byte for byte.

    python -m bench.generate --customers 100000 --invoices 1000000 --out bench/out/ar.csv

``--changed 0.01 --new 0.01`` writes the same ledger a few days later: 1% of the invoices
have been paid since, and 1% are new (imported with ``bench/mapping.yaml``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import time
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from statistics import NormalDist
from typing import Any

from stdnum.luhn import calc_check_digit

HEADER = [
    "Compte client", "Raison sociale", "SIREN", "N° facture", "Date facture", "Date échéance",
    "Montant HT", "Montant TTC", "Reste dû",
]  # fmt: skip
AS_OF = dt.date(2026, 3, 31)  # the day of the export: two years of invoices up to it
YEARS = 2
NEW_DAYS = 10  # the variant is exported this many days later

_TRADES = [
    "Boulangerie", "Transports", "Garage", "Menuiserie", "Pharmacie", "Cabinet", "Atelier",
    "Hôtel", "Restaurant", "Imprimerie", "Laboratoire", "Comptoir", "Ets", "Plomberie",
    "Électricité", "Librairie", "Fromagerie", "Maçonnerie", "Jardins", "Optique",
]  # fmt: skip
_NAMES = [
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "André", "Lefebvre", "Mercier", "Dupont",
    "Lambert", "Bonnet", "François", "Martinez", "Legrand", "Garnier", "Faure", "Rousseau",
    "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas", "Perrin", "Morin", "Mathieu",
    "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin",
]  # fmt: skip
_TOWNS = [
    "Lyon", "Nantes", "Lille", "Rennes", "Tours", "Dijon", "Brest", "Metz", "Nîmes", "Caen",
    "Pau", "Niort", "Annecy", "Colmar", "Vannes", "Bayonne", "Troyes", "Albi", "Agen", "Laval",
]  # fmt: skip
_FORMS = ["SARL", "SAS", "SAS", "SASU", "SA", "EURL", "SCI", "SNC"]
_TERMS = [30, 30, 45, 45, 60, 60, 60, 0]  # days; 0 is payment on receipt


@dataclass
class Customer:
    reference: str
    name: str
    siren: str
    terms: int  # days
    prefix: str = field(init=False)  # the first cells of each of its rows

    def __post_init__(self) -> None:
        self.prefix = f"{self.reference};{self.name};{self.siren};"


def customers(n: int, rng: random.Random) -> list[Customer]:
    width = max(6, len(str(n)))
    rand = rng.random

    def pick(items: list[Any]) -> Any:
        return items[int(rand() * len(items))]

    out = []
    for i in range(1, n + 1):
        name = f"{pick(_TRADES)} {pick(_NAMES)}"
        roll = rand()
        if roll < 0.2:
            name += " & Fils"
        elif roll < 0.4:
            name += f" {pick(_TOWNS)}"
        base = str(10_000_000 + int(rand() * 90_000_000))
        out.append(
            Customer(f"C{i:0{width}d}", f"{name} {pick(_FORMS)}",
                     base + calc_check_digit(base), pick(_TERMS))
        )  # fmt: skip
    return out


_CENTS = [f",{c:02d}" for c in range(100)]


def money(cents: int) -> str:
    """``1 234,56``: a space between thousands, a decimal comma."""
    units, cents = divmod(cents, 100)
    if units < 1000:
        return f"{units}{_CENTS[cents]}"
    if units < 1_000_000:
        return f"{units // 1000} {units % 1000:03d}{_CENTS[cents]}"
    return f"{units:,}".replace(",", " ") + _CENTS[cents]


# Amounts excluding tax in cents: log-normal (median 800 €), at least 10 €, drawn by a
# piecewise-linear inverse of its distribution function (much faster than random.gauss).
_LOGNORMAL = NormalDist(11.3, 1.1)
_STEPS = 4096
_EDGES = [
    math.exp(_LOGNORMAL.inv_cdf(min(max(k / _STEPS, 1e-7), 1 - 1e-7))) for k in range(_STEPS + 1)
]


def _amounts(rng: random.Random, n: int) -> list[int]:
    rand, edges = rng.random, _EDGES
    out = []
    for _ in range(n):
        x = rand() * _STEPS
        k = int(x)
        out.append(max(1_000, int(edges[k] + (edges[k + 1] - edges[k]) * (x - k))))
    return out


def generate(
    n_customers: int,
    n_invoices: int,
    out: Path,
    *,
    seed: int = 1,
    changed: float = 0.0,
    new: float = 0.0,
) -> int:
    """Write the file; return the number of invoice rows."""
    if n_invoices < n_customers:
        raise ValueError("every customer has at least one invoice: give more invoices")
    rng = random.Random(seed)
    people = customers(n_customers, rng)
    # Most invoices go to a few big accounts, and every customer has at least one.
    cum = list(accumulate(rng.paretovariate(1.2) for _ in people))
    owner = rng.choices(range(n_customers), cum_weights=cum, k=n_invoices)
    for who, i in enumerate(rng.sample(range(n_invoices), n_customers)):
        owner[i] = who
    excl = _amounts(rng, n_invoices)
    incl = [c + (c * 20 + 50) // 100 for c in excl]  # VAT at 20%
    rand = rng.random
    left = []  # 70% paid, 10% partly paid, 20% wholly open
    for c in incl:
        roll = rand()
        left.append(0 if roll < 0.7 else int(c * ((roll - 0.7) * 8 + 0.1)) if roll < 0.8 else c)
    first = AS_OF.toordinal() - 365 * YEARS
    issue = [first + i * 365 * YEARS // n_invoices for i in range(n_invoices)]

    # The variant: its own random stream, so that the base rows stay the same.
    vrng = random.Random(seed + 1_000_003)
    unpaid = [i for i, c in enumerate(left) if c]
    for i in vrng.sample(unpaid, min(len(unpaid), round(n_invoices * changed))):
        left[i] = 0
    n_new = round(n_invoices * new)
    owner += vrng.choices(range(n_customers), cum_weights=cum, k=n_new)
    excl += _amounts(vrng, n_new)
    incl += [c + (c * 20 + 50) // 100 for c in excl[n_invoices:]]
    left += incl[n_invoices:]
    issue += [AS_OF.toordinal() + vrng.randint(1, NEW_DAYS) for _ in range(n_new)]

    # Dates by ordinal: a few hundred distinct days, each formatted once.
    dates = {d: dt.date.fromordinal(d).strftime("%d/%m/%Y")
             for d in range(first, AS_OF.toordinal() + NEW_DAYS + max(_TERMS) + 1)}  # fmt: skip
    number = f"FA%0{max(7, len(str(len(owner))))}d"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as fh:
        fh.write(";".join(HEADER) + "\r\n")
        for start in range(0, len(owner), 100_000):
            chunk = range(start, min(start + 100_000, len(owner)))
            who = [people[owner[i]] for i in chunk]
            lines = [
                f"{c.prefix}{number % (i + 1)};{dates[issue[i]]};{dates[issue[i] + c.terms]};"
                f"{ht};{ttc};{due}"
                for i, c, ht, ttc, due in zip(
                    chunk, who, map(money, excl[chunk.start : chunk.stop]),
                    map(money, incl[chunk.start : chunk.stop]),
                    map(money, left[chunk.start : chunk.stop]), strict=True,
                )
            ]  # fmt: skip
            fh.write("\r\n".join(lines) + "\r\n")
    return len(owner)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generate", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--changed", type=float, default=0.0, help="share of invoices paid since")
    parser.add_argument("--new", type=float, default=0.0, help="share of new invoices")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = generate(args.customers, args.invoices, args.out, seed=args.seed,
                    changed=args.changed, new=args.new)  # fmt: skip
    print(f"{args.out}: {rows:,} invoices in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
