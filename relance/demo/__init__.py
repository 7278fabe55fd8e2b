"""Demo data: a French B2B supplier's receivables, generated deterministically.

``generate`` builds the ledger as plain records (no database); ``relance.demo.load``
writes it into the demo organisation.
"""

from __future__ import annotations

from relance.demo.generator import DemoData, HoldSpec, generate

__all__ = ["DemoData", "HoldSpec", "generate"]
