"""Bank statements: CAMT.053 and bank CSV exports read, de-duplicated by bank reference, and
their credits matched to open items (docs/bank.md)."""
