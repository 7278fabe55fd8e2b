"""An XML file that is not well-formed (an e-invoice, a status message, a bank statement) is
refused by a message in the reader's language that names the file, says where (line and
column) and what is wrong, then gives libxml2's own words; one function says it
(``messages.not_well_formed``). The command line speaks English."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import factories
import pytest
from django.core.management import call_command
from django.utils import translation
from lxml import etree
from test_bank import camt
from test_import_einvoices import OUR_SIREN, TODAY, cii

from relance.bank.camt import read_camt
from relance.ledger.imports import ImportFailed, import_file
from relance.ledger.imports.messages import not_well_formed
from relance.ledger.lifecycle import read_statuses

NBSP = "\u00a0"
NNBSP = "\u202f"  # narrow, before "?" (test_translations)


def syntax_error(data: bytes) -> etree.XMLSyntaxError:
    with pytest.raises(etree.XMLSyntaxError) as raised:
        etree.fromstring(data)
    return raised.value


@pytest.fixture(autouse=True)
def _no_language_left():
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.mark.parametrize(
    ("data", "english", "french"),
    [
        (
            b"<Invoice",
            "illisible.xml is not well-formed XML, line 1, column 9: a tag is not closed by"
            " “>”. Technical detail: Couldn't find end of Start Tag Invoice line 1",
            f"illisible.xml n'est pas un XML bien formé, ligne 1, colonne 9{NBSP}: une balise"
            f" n'est pas fermée par «{NBSP}>{NBSP}». Détail technique{NBSP}: Couldn't find end"
            " of Start Tag Invoice line 1",
        ),
        (
            b"<?xml version='1.0'?>\n<Invoice>\n  <ID>FA-1",
            "illisible.xml is not well-formed XML, line 3, column 11: the file ends before its"
            " elements are closed (cut short?). Technical detail: Premature end of data in tag"
            " ID line 3",
            f"illisible.xml n'est pas un XML bien formé, ligne 3, colonne 11{NBSP}: le fichier"
            f" s'arrête avant la fermeture de ses éléments (tronqué{NNBSP}?). Détail"
            f" technique{NBSP}: Premature end of data in tag ID line 3",
        ),
        (
            b"<Invoice><Note>Dupont & fils</Note></Invoice>",
            "illisible.xml is not well-formed XML, line 1, column 24: a name is missing (a lone"
            " “&” is written &amp;). Technical detail: xmlParseEntityRef: no name",
            f"illisible.xml n'est pas un XML bien formé, ligne 1, colonne 24{NBSP}: un nom manque"
            f" (un «{NBSP}&{NBSP}» seul s'écrit &amp;). Détail technique{NBSP}: xmlParseEntityRef:"
            " no name",
        ),
    ],
    ids=["tag not closed", "cut short", "lone ampersand"],
)
def test_it_says_where_and_what_in_the_readers_language(data, english, french):
    error = syntax_error(data)
    with translation.override("en"):
        assert not_well_formed("illisible.xml", error) == english
    with translation.override("fr"):
        assert not_well_formed("illisible.xml", error) == french


def test_it_gives_libxml2s_words_for_an_error_it_has_none_of_its_own_for():
    error = syntax_error(b'<Invoice id="1" id="2"/>')
    with translation.override("fr"):
        said = not_well_formed("doublon.xml", error)
    assert said == (
        f"doublon.xml n'est pas un XML bien formé, ligne 1, colonne 23{NBSP}: Attribute id"
        " redefined."
    )


@pytest.mark.django_db
def test_an_einvoice_of_a_folder_is_refused_in_french_naming_the_file(tmp_path):
    acme = factories.organisation("acme", siren=OUR_SIREN)
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "bonne.xml").write_bytes(cii("FA-1"))
    whole = cii("FA-2")
    (folder / "coupée.xml").write_bytes(whole[: whole.rindex(b"</")])  # its last tag cut off
    with translation.override("fr"):
        result = import_file(acme, folder, as_of=TODAY)
    refused = {f["file"]: f["problems"] for f in result.files if f["status"] == "refused"}
    [problem] = refused["coupée.xml"]
    assert problem.startswith("coupée.xml n'est pas un XML bien formé, ligne ")
    assert f"(tronqué{NNBSP}?)" in problem and "Premature end of data" in problem


@pytest.mark.django_db
def test_the_command_line_says_it_in_english(tmp_path):
    factories.organisation("acme", siren=OUR_SIREN)
    path = tmp_path / "broken.xml"
    path.write_bytes(b"<?xml version='1.0'?><Invoice><ID>")
    out = StringIO()
    translation.activate("fr")  # whatever a request left: the command speaks English
    with pytest.raises(SystemExit):
        call_command("import", str(path), "--org", "acme", "--json", stdout=out)
    [problem] = json.loads(out.getvalue())["problems"]
    assert problem["file"] == "broken.xml"
    assert problem["message"] == (
        "broken.xml is not well-formed XML, line 1, column 35: the file ends before its elements"
        " are closed (cut short?). Technical detail: Premature end of data in tag ID line 1"
    )


def test_a_bank_statement_says_it_too(tmp_path: Path):
    path = tmp_path / "releve.xml"
    path.write_text(camt([{"ref": "B1", "amount": "10.00"}]).replace("</Stmt>", "</Stmnt>"))
    with translation.override("fr"), pytest.raises(ImportFailed) as refused:
        read_camt(path)
    [problem] = refused.value.problems
    assert problem.message.startswith("releve.xml n'est pas un XML bien formé, ligne ")
    assert "une balise fermante ne correspond pas à l'élément qu'elle ferme" in problem.message


def test_a_status_message_says_it_too(tmp_path: Path):
    path = tmp_path / "cdar.xml"
    path.write_bytes(b"<rsm:CrossDomainAcknowledgementAndResponse xmlns:rsm='urn:x'><a>")
    with translation.override("en"), pytest.raises(ImportFailed) as refused:
        read_statuses(path)
    [problem] = refused.value.problems
    assert problem.message.startswith("cdar.xml is not well-formed XML, line 1, column ")
    assert "(cut short?)" in problem.message
