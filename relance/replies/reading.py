"""Reading a customer's reply for what it says, in French and English: open rules, each
named, each keeping the words it matched as its evidence (docs/replies.md).

Pure functions over the text, its subject and the day it was received: no ORM, no clock.
``read`` returns the kind (paid, promise, dispute, copy, absence, other) and the details a
collector needs to act on it: the date (of a payment, of a promise), a payment reference,
the dispute's reason (a ``DisputeReason`` value), the return date of an out-of-office.

Kinds are tried in a fixed order, the first that matches wins: an automatic reply is an
absence whatever it says; a dispute before a payment (a customer who disputes does not
pay); a request for the invoice before a promise ("send it again and we will pay it").
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PAID = "paid"
PROMISE = "promise"
DISPUTE = "dispute"
COPY = "copy"
ABSENCE = "absence"
OTHER = "other"
KINDS = (PAID, PROMISE, DISPUTE, COPY, ABSENCE, OTHER)

# How far from the day received a date may be to be the one meant (older dates in a reply
# are an invoice's or a reminder's).
PAST_WINDOW = dt.timedelta(days=90)
FUTURE_WINDOW = dt.timedelta(days=200)


@dataclass
class Reading:
    kind: str
    rule: str = ""
    evidence: list[str] = field(default_factory=list)
    date: dt.date | None = None  # paid: when; promise: the day promised
    date_rule: str = ""
    reference: str = ""  # paid: the transfer's or cheque's reference
    reason: str = ""  # dispute: a DisputeReason value
    return_date: dt.date | None = None  # absence

    def details(self) -> dict[str, Any]:
        """The JSON kept on the reply (dates ISO 8601, empty values left out)."""
        found: dict[str, Any] = {"rule": self.rule, "evidence": self.evidence}
        if self.date:
            found["date"] = self.date.isoformat()
            found["date_rule"] = self.date_rule
        if self.reference:
            found["reference"] = self.reference
        if self.reason:
            found["reason"] = self.reason
        if self.return_date:
            found["return_date"] = self.return_date.isoformat()
            found["date_rule"] = self.date_rule
        return found


# -- the text -----------------------------------------------------------------------------

# Where the quoted message starts, as the common mail clients write it.
QUOTE_STARTS = [
    re.compile(p, re.I | re.M)
    for p in (
        r"^\s*(le|on)\b[^\n]{0,200}\n?[^\n]{0,200}(a écrit|wrote)\s*:\s*$",
        r"^\s*-{2,}\s*(original message|message d'origine|message original|forwarded message"
        r"|message transféré)\s*-{2,}",
        r"^\s*_{8,}\s*$",
        r"^\s*(de|from)\s*:\s*.+\n\s*(envoyé|sent|date)\s*:",
        r"^\s*(de|from)\s*:\s*.+\n\s*(à|to)\s*:",
        r"^>",
    )
]
SIGNATURE = re.compile(r"^-- ?$", re.M)


def strip_quoted(text: str) -> str:
    """The reply's own words: the quoted reminder under it and a ``-- `` signature cut."""
    text = text.replace("\r\n", "\n")
    cut = len(text)
    for pattern in QUOTE_STARTS:
        found = pattern.search(text)
        if found and found.start() < cut:
            cut = found.start()
    text = text[:cut]
    signature = SIGNATURE.search(text)
    if signature:
        text = text[: signature.start()]
    return text.strip()


def _plain(text: str) -> str:
    """Lower case, typographic apostrophes and spaces made plain (accents are kept: the
    rules spell them, and say ``[ée]`` where people drop them)."""
    text = unicodedata.normalize("NFC", text).lower()
    return (
        text.replace("\u2019", "'").replace("\u00a0", " ").replace("\u202f", " ").replace("œ", "oe")
    )


# -- the rules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]

    def find(self, text: str) -> list[str]:
        return [m.group(0).strip() for m in self.pattern.finditer(text)]


def rule(name: str, *alternatives: str) -> Rule:
    return Rule(name, re.compile("|".join(f"(?:{a})" for a in alternatives), re.I))


E = "[eéèê]"  # an e people write with or without its accent (or the wrong one)
A = "[aà]"

ABSENCE_SUBJECT = rule(
    "absence_subject",
    r"r[eéèê]ponse automatique",
    r"automatic reply",
    r"auto[- ]?reply",
    r"out of (the )?office",
    r"absence du bureau",
    r"absent(e)? du bureau",
    r"autoreply",
    r"abwesenheit",
    r"\bOOO\b",
)
ABSENCE_TEXT = rule(
    "absence_text",
    r"je suis (actuellement |absolument )?(absente?|en cong[eéèê]s?|en d[eéèê]placement"
    r"|en formation|en vacances|en arr[eéèê]t maladie|hors du bureau)",
    r"je serai (absente?|en cong[eéèê]s?)",
    r"actuellement absente?",
    r"je ne suis pas (au bureau|disponible) (jusqu|du)",
    r"absente? du bureau",
    r"en cong[eéèê]s? (jusqu|du|et)",
    r"(i am|i'm|i will be) (currently )?(out of (the )?office|away|on (annual |parental )?leave"
    r"|on holiday|on vacation|travelling|out of the country)",
    r"(i am|i'm) currently out",
    r"out of (the )?office (until|from|and)",
    r"with (limited|no) access to (my )?e-?mails?",
    r"acc[eéèê]s (limit[eéèê]|restreint)"
    r" [aà] (mes|ma messagerie|mes e-?mails|mes mails)",
    r"ce message (est|a [eéèê]t[eéèê]) (envoy[eéèê]|g[eéèê]n[eéèê]r[eéèê]) automatiquement",
    r"this is an automated (reply|response|message)",
)
RETURN_CUE = re.compile(
    r"(de retour|retour pr[eéèê]vu|je reviens|je serai (de retour|l[aà]|au bureau)"
    r"|reprendrai|back (in the office )?(on|from)|return(ing)?( to the office)?( on)?"
    r"|back in the office|i will be back|i'll be back|i return)",
    re.I,
)
UNTIL_CUE = re.compile(r"(jusqu'(au|à|a)|until|till|through)\b", re.I)

DISPUTE_CUES = rule(
    "dispute",
    r"\bcontest(e|ons|ez|[eéèê]|ation)\b",
    r"\blitige",
    r"d[eéèê]saccord",
    r"\bdispute[sd]?\b",
    r"\bdisagree",
    r"\brefus(e|ons)? (de (la )?(r[eéèê]gler|payer))",
    r"ne (la |les )?(r[eéèê]glerons|paierons|payerons) pas",
    r"(won't|will not|cannot|can't|refuse to) (pay|settle)",
    r"(pas|not) (conforme|ce que nous avions command|what we ordered)",
    r"\berron[eéèê]e?s?\b",
    r"\berreur (de|sur|dans)",
    r"\bincorrect(e)?\b",
    r"\bwrong (amount|price|quantity|invoice|address|company|entity)",
    r"\bn'est pas (due|justifi[eéèê]e)",
    r"is not due\b",
    r"not (owed|owe)\b",
    r"\ben attente d'un avoir",
    r"\b(un|l'|votre|d'un|notre|cet) ?avoir\b",
    r"\bcredit note",
    r"r[eéèê]clamation",
    r"\bcomplaint",
    r"(bloquons|bloqu[eé]|suspendons|suspendu|retenons|gelons) (le |notre )?(paiement"
    r"|r[eéèê]glement)",
    r"(withhold|withholding|holding back|on hold)( the)? payment",
    r"\bpremature\b",
    r"pr[eé]matur[eé]e",
    r"(ne peut|ne peuvent|ne pouvons|ne pourrons) pas ([eéèê]tre )?(trait|enregistr)",
    r"(cannot|can't|can not|unable to) (be )?(process|pay|accept|approve)",
    r"(merci de|pouvez-vous|pourriez-vous|veuillez) (la |les |nous la )?(refaire|corriger"
    r"|rectifier)",
    r"facture rectificative",
    r"\b(reissue|re-issue)",
    r"please correct",
    r"\berror (on|in) (the|this|your) invoice",
    r"\berreur\b[^.\n]{0,20}\b(montant|prix|facture)",
)
REASONS: list[tuple[str, Rule]] = [
    (
        "duplicate",
        rule(
            "reason_duplicate",
            r"\bdoublon",
            r"en double",
            r"factur[eéèê]e?s? deux fois",
            r"deux fois la m[eéèê]me",
            r"is a duplicate",
            r"duplicate (invoice|charge|billing|payment request)",
            r"(billed|invoiced|charged) twice",
            r"d[eéèê]j[aà] ([eéèê]t[eéèê] )?factur",
        ),
    ),
    (
        "purchase_order",
        rule(
            "reason_purchase_order",
            r"bon de commande",
            r"num[eéèê]ro de commande",
            r"\bpurchase order",
            r"\bPO\b",
            r"\bpo number",
            r"\bbdc\b",
        ),
    ),
    (
        "address",
        rule(
            "reason_address",
            r"adresse de facturation",
            r"mauvaise adresse",
            r"raison sociale",
            r"mauvaise (soci[eéèê]t[eéèê]|entit[eéèê])",
            r"billing address",
            r"wrong (address|company|entity)",
            r"\bsiret\b",
            r"n'est pas (adress[eéèê]e|libell[eéèê]e) [aà]",
        ),
    ),
    (
        "not_received",
        rule(
            "reason_not_received",
            r"(jamais|pas|rien) ([eéèê]t[eéèê] )?(re[çc]u|livr[eéèê])s? (la|les|le|de|notre|nos"
            r"|votre|vos)? ?(marchandise|colis|commande|mat[eéèê]riel|produits?|pi[eéèê]ces?"
            r"|prestation|livraison)",
            r"(marchandise|commande|colis|prestation|livraison)s? (n'a|n'ont) (jamais"
            r"|pas) ([eéèê]t[eéèê] )?(re[çc]u|livr[eéèê]|effectu[eéèê]|r[eéèê]alis[eéèê])",
            r"never (received|got) (the |any |our )?(goods|order|parcel|delivery|items?|products?"
            r"|equipment|shipment)",
            r"(goods|order|parcel|delivery|shipment)s? never (arrived|came)",
            r"(marchandise|commande|colis|prestation|livraison|intervention)s?\b[^.\n]{0,40}?(n'a"
            r"|n'ont)"
            r" (jamais|pas) ([eéèê]t[eéèê] )?(re[çc]u|livr|effectu|r[eéèê]alis)",
            r"(still )?waiting for (the |our )?(delivery|goods|order|parcel|shipment)",
            r"before the (goods|order|delivery|parcel) (arrive|arrives|is delivered|are delivered)",
            r"(attendons|attend) (toujours |encore )?(la |les |notre |nos )?(livraison|marchandise"
            r"|commande|colis)",
            r"(goods|order|parcel|delivery|items?|service)"
            r" (was|were|has|have) (never|not) (been )?(received|delivered|arrived|performed)",
            r"(did not|didn't|have not|haven't|never) (receive|get)d? (the|any|our) (goods|order"
            r"|parcel|delivery|items|products|equipment)",
            r"not (been )?(delivered|performed)",
            r"jamais ([eéèê]t[eéèê] )?livr[eéèê]",
        ),
    ),
    (
        "quantity",
        rule(
            "reason_quantity",
            r"\bquantit[eéèê]s?\b",
            r"\bquantit(y|ies)\b",
            r"(seulement|que) \d+ (cartons|palettes|pi[eéèê]ces|unit[eéèê]s|articles)",
            r"only (received|got|\d+)",
            r"\bmanqu(e|ant|aient)",
            r"\bmissing\b",
            r"\bshort(age)?\b",
        ),
    ),
    (
        "delivery",
        rule(
            "reason_delivery",
            r"\blivraison (incompl|en retard|tardive|partielle)",
            r"\ben retard\b",
            r"\babîm[eéèê]",
            r"\bab[iî]m[eéèê]",
            r"\bendommag[eéèê]",
            r"\bcass[eéèê]e?s?\b",
            r"\bdamaged\b",
            r"\blate delivery",
            r"delivered late",
            r"\bincomplete\b",
            r"\bincompl[eè]te?\b",
            r"\bbroken\b",
        ),
    ),
    (
        "quality",
        rule(
            "reason_quality",
            r"\bqualit[eéèê]\b",
            r"\bquality\b",
            r"\bd[eéèê]fectueu(x|se)",
            r"\bd[eéèê]faut",
            r"\bdefect",
            r"\bfaulty\b",
            r"ne fonctionne (pas|plus)",
            r"(doesn't|does not|don't|do not) work",
            r"\bnon conforme",
            r"\bpanne\b",
            r"mal (fait|r[eéèê]alis[eéèê]|ex[eéèê]cut[eéèê])",
            r"\bmalfaçon",
            r"\bpoor (work|service|quality)",
            r"\bnot working",
        ),
    ),
    (
        "price",
        rule(
            "reason_price",
            r"\bprix\b",
            r"\btarif",
            r"\bmontant\b",
            r"\bremise\b",
            r"\bdevis\b",
            r"\bprice[sd]?\b",
            r"\bpricing\b",
            r"\bamount\b",
            r"\bdiscount",
            r"\bquote\b",
            r"\bquotation\b",
            r"\bovercharg",
            r"\brate\b",
            r"\bTVA\b",
            r"\bVAT\b",
        ),
    ),
    (
        "administrative",
        rule(
            "reason_administrative",
            r"\badministratif",
            r"\bcontrat\b",
            r"\bcontract\b",
            r"\bmentions? (obligatoires|l[eéèê]gales)",
            r"\bpaperwork",
        ),
    ),
]

COPY_CUES = rule(
    "copy",
    r"\bduplicata",
    r"\bcopie (de la|de cette|des|de vos|de nos|de votre|de ces|de l')",
    r"(renvoyer|renvoyez|r[eéèê]exp[eéèê]dier|retransmettre|retransmettez|transmettre"
    r"|transmettez|envoyer|envoyez|faire parvenir|adresser|joindre)(-| )?(nous|moi)? ?"
    r"(à nouveau |de nouveau )?(la|les|cette|ces|une copie|un duplicata|le pdf|la copie)"
    r" ?(facture|factures|copie|pdf)?",
    r"(pas|jamais) ([eéèê]t[eéèê] )?(re[çc]u|eu|trouv[eéèê]|retrouv[eéèê])"
    r" (la|les|cette|ces|votre|vos) factures?",
    r"ne (retrouvons|trouvons|trouve|retrouve) pas (la|les|cette|ces|votre|vos) factures?",
    r"(la|cette|les) factures? (n'a|n'ont) (jamais |pas )([eéèê]t[eéèê] )?re[çc]ue?s?",
    r"(send|resend|re-send|forward|email|e-mail) (us |me )?(again )?(a |the )?(copy|copies"
    r"|duplicate|invoice|invoices|pdf)",
    r"\bcop(y|ies) of\b",
    r"\bget a copy\b",
    r"send (it|them) (across|over|again|through)",
    r"(did not|didn't|have not|haven't|never|not) (receive|received|get|got|find|found|see)"
    r" (the|this|that|your|any) (invoice|bill)",
    r"can'?not find (the|this|that|your) invoice",
    r"can't find (the|this|that|your) invoice",
    r"no record of (the|this|that|your) invoice",
    r"invoice (was|has) never (been )?(received|sent)",
    r"\b(nous|me|m') ?(la|les|le) ?(renvoyer|renvoyez|retransmettre|retransmettez|transmettre"
    r"|r[eéèê]exp[eéèê]dier|faire parvenir|envoyer|adresser)",
    r"(ne nous|ne m') (est|sont) (jamais |pas )([eéèê]t[eéèê] )?parvenue?s?",
)

# A copy is asked for an invoice: a request to send "it" again counts when the reply names one.
INVOICE_WORD = re.compile(r"\bfactur|\binvoice|\binv[-\s]?\d|\bduplicat|\bpdf\b|\bbill\b", re.I)

NOT_PAID = rule(
    "not_paid",
    r"(pas|jamais) (encore )?([eéèê]t[eéèê] )?(r[eéèê]gl[eéèê]e?s?|pay[eéèê]e?s?|vir[eéèê]e?s?)",
    r"n'avons pas (encore )?(r[eéèê]gl|pay|vir)",
    r"(haven't|have not|has not|hasn't|not yet|not been|didn't|did not) (yet )?(been )?"
    r"(paid|pay|settled|transferred)",
)
PAID_CUES = rule(
    "paid",
    r"\b(avons|ai|a|avions|aurions) (bien |d[eéèê]j[aà] |d[eéèê]j[aà] bien |"
    r"bien d[eéèê]j[aà] )?(r[eéèê]gl[eéèê]|pay[eéèê]|vir[eéèê]|sold[eéèê]|acquitt[eéèê]"
    r"|proc[eéèê]d[eéèê] au (r[eéèê]glement|paiement|virement)"
    r"|effectu[eéèê] (le|un|notre|ce) (r[eéèê]glement|paiement|virement)|envoy[eéèê] (le|un"
    r"|notre) (ch[eéèê]que|r[eéèê]glement|paiement|virement)"
    r"|[eéèê]mis (le|un) (virement|ch[eéèê]que))",
    r"(virement|paiement|r[eéèê]glement|ch[eéèê]que|versement)s? (a|ont|est"
    r"|sont) ([eéèê]t[eéèê] )?(bien )?(effectu[eéèê]|envoy[eéèê]|[eéèê]mis|pass[eéèê]|parti|fait"
    r"|ex[eéèê]cut[eéèê]|post[eéèê]|exp[eéèê]di[eéèê]|d[eéèê]bit[eéèê]|valid[eéèê])",
    r"\bd[eéèê]j[aà] ([eéèê]t[eéèê] )?(r[eéèê]gl[eéèê]e?|pay[eéèê]e?|sold[eéèê]e?)s?",
    r"(est|sont) (bien )?(r[eéèê]gl[eéèê]e?s?|pay[eéèê]e?s?|sold[eéèê]e?s?)\b",
    r"\b(a|ont) [eéèê]t[eéèê] (bien )?(r[eéèê]gl|pay|acquitt|sold|vir|effectu)[eéèê]",
    r"(virement|paiement|r[eéèê]glement|ch[eéèê]que|versement)s?\b[^.\n]{0,60}?(?<![\w'])(a|ont"
    r"|est|sont) ([eéèê]t[eéèê] )?(bien )?(effectu|envoy|[eéèê]mis|pass|parti|fait"
    r"|ex[eéèê]cut|post|exp[eéèê]di|d[eéèê]bit|valid)",
    r"(virement|paiement|r[eéèê]glement|ch[eéèê]que) (fait|effectu[eéèê]|parti"
    r"|envoy[eéèê]|pass[eéèê])\b",
    r"viens de (faire|lancer|passer|effectuer|r[eéèê]gler|payer|virer|envoyer)",
    r"\b(factures?|invoices?) (bien |d[eéèê]j[aà] )?(pay[eéèê]e?s?|r[eéèê]gl[eéèê]e?s?)\b",
    r"\bpayment\b[^.\n]{0,40}?\b(went out|left our account|has left|was sent|was made)",
    r"(avez|aurez) (d[eéèê]j[aà] |normalement |d[uû] )?(bien )?re[çc]u (notre|le|un|votre)"
    r" (paiement|virement|r[eéèê]glement|ch[eéèê]que|versement)",
    r"(paiement|virement|r[eéèê]glement|ch[eéèê]que)[^.\n]{0,30}\bparti\b",
    r"should have (already )?received (our|the|a) (payment|transfer|cheque|check|remittance)",
    r"(balance|invoice|amount|account|bill)s? (was|were|has been|have been) (cleared|settled|paid)",
    r"\bcleared (it |the balance |the invoice )?(via|through|by|on|yesterday|last)",
    r"avis de virement",
    r"justificatif de (paiement|virement|r[eéèê]glement)",
    r"preuve de (paiement|virement)",
    r"ci-joint (le|notre) (virement|r[eéèê]glement)",
    r"(have|has|had) (already )?(been )?(paid|settled|sent the payment|made the payment"
    r"|transferred|wired|sent payment|processed (the )?payment)",
    r"(was|were) (paid|settled|transferred|wired|sent)\b",
    r"(we|i) (paid|settled|transferred|wired|sent the payment|made the payment|sent payment"
    r"|mailed (a|the) cheque|posted (a|the) cheque)",
    r"already (been )?(paid|settled)",
    r"payment (was|has been|went) (made|sent|issued|processed|out|released|executed)",
    r"remittance (advice)?",
    r"proof of payment",
    r"(cheque|check) (was|has been) (sent|posted|mailed)",
    r"(?<!be )(?<!sera )\bpaid (in full|on|yesterday|last|this)",
)
PROMISE_CUES = rule(
    "promise",
    r"(r[eéèê]glerons|r[eéèê]glerai|paierons|payerons|paierai|payerai|verserons"
    r"|virerons|procéderons|proc[eéèê]derons|proc[eéèê]derai|effectuerons|effectuerai"
    r"|solderons|honorerons|enverrons|enverrai|adresserons|ferons le n[eéèê]cessaire)",
    r"\b(fera|feront|ferons|ferai) (le|un|notre|les) (virement|paiement|r[eéèê]glement"
    r"|ch[eéèê]que)",
    r"(allons|vais|va|vont|pouvons|pourrons|pourrai|comptons|pr[eéèê]voyons|devrions"
    r"|souhaitons|esp[eéèê]rons) (vous )?(r[eéèê]gler|payer|virer|proc[eéèê]der|effectuer|solder"
    r"|verser|envoyer le|lancer le|mettre en paiement)",
    r"sera (r[eéèê]gl[eéèê]e?|pay[eéèê]e?|vir[eéèê]e?|effectu[eéèê]e?"
    r"|envoy[eéèê]e?|sold[eéèê]e?|mise? en paiement|programm[eéèê]e?"
    r"|pass[eéèê]e?|[eéèê]mise?|ex[eéèê]cut[eéèê]e?|honor[eéèê]e?"
    r"|fait|faite)",
    r"seront (r[eéèê]gl[eéèê]es|pay[eéèê]es|vir[eéèê]es|sold[eéèê]es"
    r"|trait[eéèê]es|mises en paiement)",
    r"\bmise? en paiement",
    r"\bpr[eéèê]vu(e)? (le|pour)",
    r"\bprogramm[eéèê]e? (le|pour)",
    r"paiement interviendra",
    r"r[eéèê]glement interviendra",
    r"(will|shall|'ll|going to|plan to|intend to|expect to|hope to|aim to) (be )?(pay|settle"
    r"|transfer|wire|process|send|release|clear|make the payment|paid|settled|processed"
    r"|transferred|made|released|sent)",
    r"will go out",
    r"will (be with you|reach you|arrive|land|be in your account|hit your account|be credited)",
    r"(pour|afin de) vous (r[eéèê]gler|payer|verser)",
    r"(is|are|has been|have been) scheduled",
    r"\bpayment run\b",
    r"\bscheduled (for|on)\b",
    r"\bby (the )?end of\b",
    r"\bnext (payment|cheque|check) run",
)


PAYMENT_WORD = re.compile(
    r"\b(virement|paiement|r[eéèê]glement|r[eéèê]gle|r[eéèê]gler|payer|paye|paie"
    r"|ch[eéèê]que|pay|payment|transfer|cheque|check|wire)\b",
    re.I,
)


def _found(rules: Iterable[Rule], text: str) -> tuple[str, list[str]]:
    for r in rules:
        evidence = r.find(text)
        if evidence:
            return r.name, evidence
    return "", []


# -- dates --------------------------------------------------------------------------------

MONTHS = {
    "janvier": 1, "janv": 1, "février": 2, "fevrier": 2, "févr": 2, "fevr": 2, "mars": 3,
    "avril": 4, "avr": 4, "mai": 5, "juin": 6, "juillet": 7, "juil": 7, "août": 8, "aout": 8,
    "septembre": 9, "sept": 9, "octobre": 10, "oct": 10, "novembre": 11, "nov": 11,
    "décembre": 12, "decembre": 12, "déc": 12, "dec": 12,
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sep": 9, "october": 10, "november": 11, "december": 12,
}  # fmt: skip
WEEKDAYS = {
    "lundi": 0, "mardi": 1, "mercredi": 2, "jeudi": 3, "vendredi": 4, "samedi": 5,
    "dimanche": 6, "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4,
    "saturday": 5, "sunday": 6,
}  # fmt: skip
MONTH = "(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
WEEKDAY = "(" + "|".join(WEEKDAYS) + ")"
ORD = r"(?:er|ère|st|nd|rd|th)?"
NUMBER_WORDS = {
    "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7,
    "huit": 8, "dix": 10, "quinze": 15, "trente": 30, "one": 1, "two": 2, "three": 3,
    "four": 4, "five": 5, "ten": 10, "fifteen": 15, "thirty": 30, "a": 1,
}  # fmt: skip
COUNT = r"(?P<count>\d{1,3}|" + "|".join(NUMBER_WORDS) + ")"


def _count(word: str) -> int:
    return int(word) if word.isdigit() else NUMBER_WORDS[word]


def _last_day(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _add_months(day: dt.date, months: int) -> tuple[int, int]:
    index = day.year * 12 + day.month - 1 + months
    return index // 12, index % 12 + 1


def _safe(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _nearest(month: int, day: int, base: dt.date, future: bool) -> dt.date | None:
    """The day ``day/month`` without a year: the next one on or after ``base`` for a
    promise, the last one on or before it for a payment."""
    years = (base.year, base.year + 1) if future else (base.year, base.year - 1)
    for year in years:
        found = _safe(year, month, day)
        if found and (found >= base if future else found <= base):
            return found
    return None


def _day_of_month(day: int, base: dt.date, future: bool) -> dt.date | None:
    """``le 15`` alone: the next (or last) 15th."""
    for months in (0, 1, 2) if future else (0, -1, -2):
        year, month = _add_months(base, months)
        found = _safe(year, month, day)
        if found and (found >= base if future else found <= base):
            return found
    return None


def _weekday(weekday: int, base: dt.date, future: bool, *, later: int = 0) -> dt.date:
    """The next weekday after ``base`` (a promise: "vendredi" said on a Friday is next
    week's), or the last one before it (a payment)."""
    if future:
        ahead = (weekday - base.weekday() - 1) % 7 + 1
        return base + dt.timedelta(days=ahead + 7 * later)
    back = (base.weekday() - weekday - 1) % 7 + 1
    return base - dt.timedelta(days=back)


def _friday(base: dt.date, weeks: int = 0) -> dt.date:
    return base + dt.timedelta(days=(4 - base.weekday()) % 7 + 7 * weeks)


DateRule = tuple[str, re.Pattern[str]]
PRECISE = {"iso_date", "numeric_date", "day_month", "month_day", "weekday_day"}
VAGUE = {"weekday", "day_only"}


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.I)


DATE_RULES: list[DateRule] = [
    ("iso_date", _re(r"\b(20\d\d)-(\d\d)-(\d\d)\b")),
    ("numeric_date", _re(r"(?<![\d/.-])(\d{1,2})[/.](\d{1,2})(?:[/.](\d{2}|\d{4}))?(?![\d/.-])")),
    ("day_month", _re(r"\b(\d{1,2})" + ORD + r"\s+(?:of\s+)?" + MONTH + r"(?:\s+(20\d\d))?\b")),
    ("month_day", _re(r"\b" + MONTH + r"\s+(?:the\s+)?(\d{1,2})" + ORD + r"\b(?:,?\s+(20\d\d))?")),
    ("end_of_next_month", _re(r"fin (du mois|de mois) prochain|end of next month")),
    ("end_of_month", _re(
        r"fin (du |de |de ce )?mois|fin " + MONTH + r"|end of (the |this )?month"
        r"|end of " + MONTH + r"|month[- ]end|fin de mois|\bmonth end\b"
    )),
    ("start_of_month", _re(
        r"d[ée]but (du mois prochain|de mois prochain|" + MONTH + r")"
        r"|(early|beginning of|start of) (next month|" + MONTH + r")"
    )),
    ("within_days", _re(
        r"sous huitaine|sous quinzaine|sous (?P<hours>\d+) ?(h|heures)\b"
        r"|(d'ici|dans|sous|within|in|in the next) " + COUNT + r" (jours|days|semaines|weeks"
        r"|business days|jours ouvr[ée]s)"
    )),
    ("next_week", _re(r"(la )?semaine prochaine|next week|d[ée]but de semaine prochaine")),
    ("end_of_week", _re(
        r"fin (de la |de |de cette )?semaine|end of (the |this )?week|cette semaine|this week"
    )),
    ("weekday_day", _re(r"\b" + WEEKDAY + r"\s+(?:the\s+)?(\d{1,2})" + ORD + r"(?!\s*[/.:h]\d)\b")),
    # Not a quantity or a time: "le 15 h", "the 10 days", "le 3/4".
    ("day_only", _re(
        r"\b(le|the|on the|by the|avant le|au plus tard le)\s+(\d{1,2})" + ORD
        + r"\b(?![ \t]*([/:%€$]|[.,]\d|h\b|h\d|heures|jours|days|ans|ml|kg))"
    )),
    ("weekday", _re(
        r"\b(?:(next|this|coming|on|by|ce|d'ici|avant)\s+)?" + WEEKDAY
        + r"(\s+(prochain|next|qui vient|dernier|last))?\b"
    )),
    ("relative_day", _re(
        r"\b(apr[eè]s-demain|avant-hier|demain|tomorrow|aujourd'hui|today|ce jour|hier|yesterday"
        r"|ce matin|this morning|cet apr[eè]s-midi|this afternoon|la semaine derni[eè]re"
        r"|last week)\b"
    )),
]  # fmt: skip


def _resolve(name: str, m: re.Match[str], base: dt.date, future: bool) -> dt.date | None:
    g = m.groups()
    if name == "iso_date":
        return _safe(int(g[0]), int(g[1]), int(g[2]))
    if name == "numeric_date":
        day, month = int(g[0]), int(g[1])
        if g[2]:
            year = int(g[2]) + (2000 if len(g[2]) == 2 else 0)
            return _safe(year, month, day)
        return _nearest(month, day, base, future) if 1 <= month <= 12 else None
    if name == "day_month":
        month = MONTHS[g[1].lower()]
        return (
            _safe(int(g[2]), month, int(g[0])) if g[2] else _nearest(month, int(g[0]), base, future)
        )
    if name == "month_day":
        month = MONTHS[g[0].lower()]
        return (
            _safe(int(g[2]), month, int(g[1])) if g[2] else _nearest(month, int(g[1]), base, future)
        )
    text = m.group(0).lower()
    if name == "end_of_next_month":
        return _last_day(*_add_months(base, 1))
    if name == "end_of_month":
        named = next((MONTHS[w] for w in re.findall(r"[a-zéû]+", text) if w in MONTHS), None)
        if named is None:
            return _last_day(base.year, base.month)
        year = base.year if named >= base.month else base.year + 1
        return _last_day(year, named)
    if name == "start_of_month":
        named = next((MONTHS[w] for w in re.findall(r"[a-zéû]+", text) if w in MONTHS), None)
        if named is None:
            year, month = _add_months(base, 1)
        else:
            year, month = (base.year if named > base.month else base.year + 1), named
        return dt.date(year, month, 5)  # "early in the month": the 5th
    if name == "within_days":
        if "huitaine" in text:
            return base + dt.timedelta(days=8)
        if "quinzaine" in text:
            return base + dt.timedelta(days=15)
        if m.group("hours"):
            return base + dt.timedelta(days=max(1, int(m.group("hours")) // 24))
        days = _count(m.group("count").lower())
        if "semaine" in text or "week" in text:
            days *= 7
        if "ouvr" in text or "business" in text:
            days = days * 7 // 5
        return base + dt.timedelta(days=days)
    if name == "next_week":
        return _friday(base, 1)
    if name == "end_of_week":
        return _friday(base)
    if name == "weekday_day":
        return _day_of_month(int(g[1]), base, future)
    if name == "day_only":
        day = int(g[1])
        return _day_of_month(day, base, future) if 1 <= day <= 31 else None
    if name == "weekday":
        weekday = WEEKDAYS[g[1].lower()]
        past = (g[2] or "").strip().lower() in ("dernier", "last") or (g[0] or "").lower() == "last"
        return _weekday(weekday, base, future and not past)
    if name == "relative_day":
        offsets = {
            "après-demain": 2, "apres-demain": 2, "demain": 1, "tomorrow": 1, "hier": -1,
            "yesterday": -1, "avant-hier": -2, "la semaine dernière": -7,
            "la semaine derniere": -7, "last week": -7,
        }  # fmt: skip
        return base + dt.timedelta(days=offsets.get(text, 0))
    return None


def find_date(text: str, base: dt.date, *, future: bool) -> tuple[dt.date | None, str, str]:
    """The date a sentence means, relative to the day the reply was received: the first
    one, in the order of the text, that falls in a sensible window (after ``base`` for a
    promise, before it for a payment). Returns (date, rule, words matched)."""
    low = _plain(text)
    candidates: list[tuple[int, int, str, str, dt.date]] = []
    precise: list[int] = []  # where a full date starts
    vague: dict[tuple[int, int], int] = {}  # a weekday or a lone day: its candidate, its end
    for order, (name, pattern) in enumerate(DATE_RULES):
        for m in pattern.finditer(low):
            found = _resolve(name, m, base, future)
            if found is None or not _plausible(found, base, future):
                continue
            if name in PRECISE:
                precise.append(m.start())
            elif name in VAGUE:
                vague[(m.start(), order)] = m.end()
            candidates.append((m.start(), order, name, m.group(0).strip(), found))
    # "vendredi 4 décembre", "le 15 janvier 2027": the full date, not the weekday or the day.
    candidates = [
        c
        for c in candidates
        if (c[0], c[1]) not in vague
        or not any(c[0] <= p <= vague[(c[0], c[1])] + 4 for p in precise)
    ]
    if candidates:
        # In the order of the text; at one place, the more precise rule first.
        _, _, name, words, found = min(candidates)
        return found, name, words
    return _dateparser(low, base, future)


def _plausible(day: dt.date, base: dt.date, future: bool) -> bool:
    if future:
        return base - dt.timedelta(days=1) <= day <= base + FUTURE_WINDOW
    return base - PAST_WINDOW <= day <= base


def _dateparser(text: str, base: dt.date, future: bool) -> tuple[dt.date | None, str, str]:
    """What the rules miss, to the maintained parser (dateparser), relative to ``base``."""
    from dateparser.search import search_dates  # type: ignore[import-untyped]

    settings: Any = {
        "RELATIVE_BASE": dt.datetime.combine(base, dt.time(12)),
        "PREFER_DATES_FROM": "future" if future else "past",
        "DATE_ORDER": "DMY",
        "REQUIRE_PARTS": ["day"],
    }
    try:
        found = search_dates(text, languages=["fr", "en"], settings=settings) or []
    except Exception:  # a parser's failure is a reply without a date
        return None, "", ""
    for words, when in found:
        if len(words.strip()) > 3 and _plausible(when.date(), base, future):
            return when.date(), "dateparser", words.strip()
    return None, "", ""


# -- references ---------------------------------------------------------------------------

REFERENCE = re.compile(
    r"(?:r[ée]f[ée]rence|r[ée]f\.?|ref\.?|reference|n°|no\.?|num[ée]ro|number|id|#)"
    r"\s*(?:de |du |of |the )?(?:virement|transfer|paiement|payment|ch[eè]que|cheque|check"
    r"|transaction|remise|op[ée]ration)?\s*(?:n°|no\.?|:|#)?\s*:?\s*([A-Z0-9][A-Z0-9/_.-]{4,40})",
    re.I,
)
REFERENCE_CONTEXT = re.compile(
    r"(virement|transfer|paiement|payment|ch[eè]que|cheque|check|transaction|remise|wire)", re.I
)


def find_reference(text: str, invoice_numbers: Iterable[str] = ()) -> str:
    """A payment's reference in the sentence that speaks of the payment (not an invoice
    number the customer repeats)."""
    numbers = {n.lower() for n in invoice_numbers}
    for sentence in _sentences(text):
        if not REFERENCE_CONTEXT.search(sentence):
            continue
        for m in REFERENCE.finditer(sentence):
            value = m.group(1).rstrip(".-/")
            if (
                any(c.isdigit() for c in value)
                and value.lower() not in numbers
                and not _looks_like_invoice(sentence, m)
                and not re.fullmatch(r"\d{1,2}[/.]\d{1,2}([/.]\d{2,4})?", value)
            ):
                return value
    return ""


def _looks_like_invoice(sentence: str, m: re.Match[str]) -> bool:
    before = sentence[max(0, m.start() - 12) : m.start()].lower()
    return "factur" in before or "invoice" in before


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?;])\s+|\n+", text) if s.strip()]


def _cue_sentences(text: str, cue: Rule) -> str:
    """The sentences where ``cue`` matched, then the rest (dates near the cue first)."""
    sentences = _sentences(text)
    near = [s for s in sentences if cue.pattern.search(s)]
    return "\n".join(near + [s for s in sentences if s not in near])


# -- reading ------------------------------------------------------------------------------


def read(
    text: str,
    *,
    received: dt.date,
    subject: str = "",
    automatic: bool = False,
    invoice_numbers: Iterable[str] = (),
) -> Reading:
    """What the reply says. ``text`` is its plain text, quoted part included or not (it is
    cut here); ``automatic``: the message said so in its headers (Auto-Submitted,
    X-Autoreply...)."""
    own = _plain(strip_quoted(text))
    subject = _plain(subject)
    absence = _absence(own, subject, automatic, received)
    if absence:
        return absence
    evidence = DISPUTE_CUES.find(own)
    reason_rule, reason_words = _found((r for _, r in REASONS), own)
    # Words of a reason are a dispute only with a word of disagreement, or when they say
    # something is wrong on their own (a duplicate, goods never received).
    if evidence or reason_rule in ("reason_duplicate", "reason_not_received"):
        reason = next((value for value, r in REASONS if r.name == reason_rule), "other")
        return Reading(DISPUTE, "dispute", evidence + reason_words, reason=reason or "other")
    copy = COPY_CUES.find(own) if INVOICE_WORD.search(own) else []
    if copy:
        return Reading(COPY, "copy", copy)
    not_paid = NOT_PAID.find(own)
    paid = (
        [] if not_paid and not PAID_CUES.find(own.replace(not_paid[0], "")) else PAID_CUES.find(own)
    )
    if paid:
        reading = Reading(PAID, "paid", paid)
        reading.date, reading.date_rule, words = find_date(
            _cue_sentences(own, PAID_CUES), received, future=False
        )
        if words:
            reading.evidence.append(words)
        reading.reference = find_reference(strip_quoted(text), invoice_numbers)
        return reading
    promise = PROMISE_CUES.find(own)
    if promise:
        reading = Reading(PROMISE, "promise", promise)
        reading.date, reading.date_rule, words = find_date(
            _cue_sentences(own, PROMISE_CUES), received, future=True
        )
        if words:
            reading.evidence.append(words)
        return reading
    return _payment_on_a_day(own, received) or Reading(OTHER, "other")


def _payment_on_a_day(own: str, received: dt.date) -> Reading | None:
    """A sentence that speaks of paying and names a day to come, in the present tense
    ("je fais le virement demain", "paiement le 11 décembre"): a promise."""
    for sentence in _sentences(own):
        word = PAYMENT_WORD.search(sentence)
        if not word:
            continue
        day, date_rule, words = find_date(sentence, received, future=True)
        if day is not None and day > received:
            reading = Reading(PROMISE, "payment_on_future_date", [word.group(0), words])
            reading.date, reading.date_rule = day, date_rule
            return reading
    return None


def _absence(own: str, subject: str, automatic: bool, received: dt.date) -> Reading | None:
    subject_words = ABSENCE_SUBJECT.find(subject)
    text_words = ABSENCE_TEXT.find(own)
    if not (subject_words or text_words or (automatic and RETURN_CUE.search(own))):
        return None
    reading = Reading(
        ABSENCE,
        "absence_subject" if subject_words else "absence_text" if text_words else "auto_submitted",
        subject_words + text_words,
    )
    reading.return_date, reading.date_rule, words = _return_date(own, received)
    if words:
        reading.evidence.append(words)
    return reading


def _return_date(own: str, received: dt.date) -> tuple[dt.date | None, str, str]:
    """The day the person is back: after "de retour", "back on" the date itself; after
    "jusqu'au", "until" the day after it (the last day away is named)."""
    for cue, after_until in ((RETURN_CUE, False), (UNTIL_CUE, True)):
        for m in cue.finditer(own):
            tail = own[m.end() : m.end() + 60].split("\n")[0]
            found, name, words = find_date(tail, received, future=True)
            if found:
                if after_until:
                    return _next_working_day(found), name + "+1", words
                return found, name, words
    return None, "", ""


def _next_working_day(day: dt.date) -> dt.date:
    """The day after ``day``, a weekend skipped (away until Friday: back on Monday)."""
    day += dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def mentioned(text: str, numbers: Iterable[str]) -> list[str]:
    """The invoice numbers among ``numbers`` the text names (whole words, any case)."""
    low = text.lower()
    return [
        n
        for n in numbers
        if n and re.search(r"(?<![\w-])" + re.escape(n.lower()) + r"(?![\w-])", low)
    ]
