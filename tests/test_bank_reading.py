"""CAMT.053 entries read by direct paths give the lines every shape of entry gives: a batch of
transactions (one line each, their own amounts and references), several remittance texts,
an entry without transaction details dated by its value date alone."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from test_bank import OUR_IBAN, write

from relance.bank.camt import read_camt

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"


def test_it_reads_a_batch_several_texts_and_an_entry_without_details(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.xml",
        f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="{NS}"><BkToCstmrStmt><Stmt><Acct><Id><IBAN>{OUR_IBAN}</IBAN></Id></Acct>
<Ntry><Amt Ccy="eur">300.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
 <BookgDt><Dt>2026-11-23</Dt></BookgDt><AcctSvcrRef>LOT1</AcctSvcrRef>
 <NtryDtls>
  <TxDtls><Refs><AcctSvcrRef>LOT1-A</AcctSvcrRef></Refs><Amt Ccy="EUR">100.00</Amt>
   <RltdPties><Dbtr><Pty><Nm>  Dupont   SA </Nm></Pty></Dbtr>
    <DbtrAcct><Id><IBAN>FR76 1234 5678</IBAN></Id></DbtrAcct></RltdPties>
   <RmtInf><Ustrd>FACT FA-1</Ustrd><Ustrd>ET FA-2</Ustrd>
    <Strd><CdtrRefInf><Ref>RF18 5390 0754 7034</Ref></CdtrRefInf></Strd></RmtInf>
   <AddtlTxInf>LOT</AddtlTxInf></TxDtls>
  <TxDtls><AmtDtls><TxAmt><Amt Ccy="EUR">200.00</Amt></TxAmt></AmtDtls>
   <RltdPties><Dbtr><Nm>Durand</Nm></Dbtr></RltdPties></TxDtls>
 </NtryDtls><AddtlNtryInf>VIR  GROUPE</AddtlNtryInf></Ntry>
<Ntry><Amt Ccy="EUR">45.10</Amt><CdtDbtInd>DBIT</CdtDbtInd>
 <ValDt><DtTm>2026-11-24T10:00:00</DtTm></ValDt><NtryRef>N2</NtryRef></Ntry>
</Stmt></BkToCstmrStmt></Document>
""",
    )

    first, second, debit = read_camt(path)

    assert (first.amount, first.currency, first.bank_reference, first.account) == (
        Decimal("100.00"), "EUR", "LOT1-A", OUR_IBAN,
    )  # fmt: skip
    assert (first.remittance, first.structured, first.label) == (
        "FACT FA-1 ET FA-2", ["RF18539007547034"], "VIR GROUPE LOT",
    )  # fmt: skip
    assert (first.debtor_name, first.debtor_iban) == ("Dupont SA", "FR7612345678")
    assert (second.amount, second.bank_reference, second.debtor_name) == (
        Decimal("200.00"), "LOT1/2", "Durand",
    )  # fmt: skip
    assert (debit.amount, debit.date, debit.bank_reference) == (
        Decimal("-45.10"), dt.date(2026, 11, 24), "N2",
    )  # fmt: skip
