"""Who a demo customer is: name, registration numbers, address, phone, e-mail, contacts.

Registration numbers carry real check digits (computed with python-stdnum's own
algorithms) so that every validator the product uses accepts them.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from stdnum import luhn
from stdnum.fr import siren as fr_siren
from stdnum.iso7064 import mod_11_10
from stdnum.lu import tva as lu_tva

from relance.demo import vocabulary as words
from relance.demo.vocabulary import ForeignPlace, Sector


@dataclass(frozen=True)
class Contact:
    name: str
    role: str
    email: str
    phone: str
    preferred_channel: str
    is_primary: bool


@dataclass(frozen=True)
class Identity:
    legal_name: str
    siren: str
    siret: str
    vat_number: str
    email: str
    phone: str
    language: str
    country: str
    address: dict[str, str]
    sector: Sector
    # True for customers outside France: intra-EU supplies are invoiced without VAT.
    foreign: bool
    contacts: tuple[Contact, ...] = field(default=())


class Registry:
    """Keeps names and numbers unique across the generated customers."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.numbers: set[str] = set()

    def claim_name(self, name: str) -> bool:
        if name in self.names:
            return False
        self.names.add(name)
        return True

    def claim_number(self, number: str) -> bool:
        if number in self.numbers:
            return False
        self.numbers.add(number)
        return True


def ascii_slug(text: str, sep: str = "-") -> str:
    """``Maçonnerie Léger et Fils`` -> ``maconnerie-leger-et-fils``, for e-mail addresses."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    parts = "".join(c if c.isalnum() else " " for c in folded.lower()).split()
    return sep.join(parts)


def weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


# --- registration numbers ---------------------------------------------------------------


def make_siren(rng: random.Random, registry: Registry) -> str:
    """Nine digits, the last a Luhn check digit; companies' SIRENs start with 3 to 9."""
    while True:
        body = str(rng.randint(3, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(7))
        siren = body + luhn.calc_check_digit(body)
        # 356000000 is La Poste, whose SIRETs follow another rule.
        if siren != "356000000" and registry.claim_number(siren):
            return siren


def make_siret(rng: random.Random, siren: str) -> str:
    """The head office's SIRET: SIREN + a four-digit establishment number + Luhn digit."""
    establishment = f"{rng.choice((1, 1, 1, 2, 3, 4, 5)):04d}"
    body = siren + establishment
    return body + luhn.calc_check_digit(body)


def french_vat(siren: str) -> str:
    return "FR" + fr_siren.to_tva(siren)


def foreign_vat(rng: random.Random, country: str) -> str:
    if country == "BE":
        body = "0" + "".join(str(rng.randint(0, 9)) for _ in range(7))
        return f"BE{body}{97 - int(body) % 97:02d}"
    if country == "LU":
        body = str(rng.randint(10, 99)) + "".join(str(rng.randint(0, 9)) for _ in range(4))
        return f"LU{body}{lu_tva.calc_check_digits(body)}"
    body = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(7))
    return f"DE{body}{mod_11_10.calc_check_digit(body)}"


# --- phones, addresses ------------------------------------------------------------------


def _pairs(rng: random.Random, count: int) -> str:
    return " ".join(f"{rng.randint(0, 99):02d}" for _ in range(count))


# The numbering plan keeps these blocks for fiction (ARCEP, plan national de numérotation,
# 2.5.12): a demo must never ring or text a real line.
FICTION_BLOCKS = {1: "99 00", 2: "61 91", 3: "53 01", 4: "65 71", 5: "36 49", 6: "39 98"}


def french_landline(rng: random.Random, zone: int) -> str:
    return f"0{zone} {FICTION_BLOCKS[zone]} {_pairs(rng, 2)}"


def french_mobile(rng: random.Random) -> str:
    return f"06 {FICTION_BLOCKS[6]} {_pairs(rng, 2)}"


def foreign_phone(rng: random.Random, place: ForeignPlace) -> str:
    local = f"{rng.randint(100, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}"
    return f"{place.phone_prefix} {place.area} {local}"


def french_street(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return f"{rng.randint(1, 40)} {rng.choice(words.BUSINESS_PARKS)}"
    number = rng.randint(1, 180)
    suffix = " bis" if rng.random() < 0.05 else ""
    return f"{number}{suffix} {rng.choice(words.STREET_KINDS)} {rng.choice(words.STREET_NAMES)}"


def foreign_street(rng: random.Random, country: str) -> str:
    number = rng.randint(1, 120)
    if country == "DE":
        return f"{rng.choice(('Industriestraße', 'Hauptstraße', 'Gewerbepark'))} {number}"
    if country == "BE":
        return (
            f"{rng.choice(('Rue de l’Industrie', 'Avenue Louise', 'Chaussée de Namur'))} {number}"
        )
    return f"{number}, {rng.choice(('rue de l’Industrie', 'route d’Arlon', 'rue du Fort'))}"


# --- names ------------------------------------------------------------------------------


def french_company_name(rng: random.Random, sector: Sector, town: str) -> str:
    template = rng.choice(sector.templates)
    core = template.format(
        surname=rng.choice(words.SURNAMES), place=rng.choice(words.PLACES), city=town
    )
    return f"{core} {weighted(rng, words.LEGAL_FORMS)}"


def subsidiary_name(rng: random.Random) -> str:
    group = rng.choice(words.GROUP_NAMES)
    return f"{group} {rng.choice(words.GROUP_ACTIVITIES)} France SAS"


def foreign_company_name(rng: random.Random, country: str) -> str:
    template = rng.choice(words.FOREIGN_NAME_TEMPLATES[country])
    return template.format(surname=rng.choice(words.FOREIGN_SURNAMES[country]))


def person_name(rng: random.Random, english: bool) -> str:
    if english:
        return f"{rng.choice(words.ENGLISH_FIRST_NAMES)} {rng.choice(words.ENGLISH_SURNAMES)}"
    return f"{rng.choice(words.FIRST_NAMES)} {rng.choice(words.SURNAMES)}"


def domain_for(legal_name: str) -> str:
    """``transports-morel.example``: reserved for examples (RFC 2606), so that no reminder
    the demo sends can reach a real company."""
    core = legal_name.rsplit(" ", 1)[0] if " " in legal_name else legal_name
    return f"{ascii_slug(core)}.example"


# --- contacts ---------------------------------------------------------------------------


def make_contacts(
    rng: random.Random, domain: str, english: bool, phone: str, *, abroad: bool = False
) -> tuple[Contact, ...]:
    """One accounts-payable contact who receives reminders, sometimes a manager to call."""
    used: set[str] = set()
    contacts = []
    roles = _contact_roles(rng, english)
    for index, role in enumerate(roles):
        name = person_name(rng, english)
        while name in used:
            name = person_name(rng, english)
        used.add(name)
        is_manager = index > 0
        contacts.append(
            Contact(
                name=name,
                role=role,
                email=f"{ascii_slug(name, '.')}@{domain}",
                phone=french_mobile(rng) if is_manager and not abroad else phone,
                preferred_channel="phone" if is_manager and rng.random() < 0.6 else "email",
                is_primary=index == 0,
            )
        )
    return tuple(contacts)


def _contact_roles(rng: random.Random, english: bool) -> list[str]:
    if english:
        return list(words.ENGLISH_ROLES[: rng.choice((1, 2, 2, 3))])
    roles = [rng.choice(words.ACCOUNTING_ROLES)]
    if rng.random() < 0.6:
        roles.append(rng.choice(words.MANAGEMENT_ROLES))
    if rng.random() < 0.25:
        roles.append(rng.choice(words.OTHER_ROLES))
    return roles


# --- whole identities -------------------------------------------------------------------


def make_identity(rng: random.Random, registry: Registry) -> Identity:
    """About 4 % of customers abroad (Belgium, Luxembourg, Germany), 3 % French
    subsidiaries of foreign groups working in English, the rest French SMEs."""
    draw = rng.random()
    if draw < 0.04:
        return _foreign_identity(rng, registry, rng.choice(words.FOREIGN_PLACES))
    return _french_identity(rng, registry, subsidiary=draw < 0.07)


def _unique_name(registry: Registry, make: Callable[[], str]) -> str:
    """A fresh name; when the word lists run dry (large demos), a number tells twins apart."""
    for _ in range(30):
        name = make()
        if registry.claim_name(name):
            return name
    core, form = name.rsplit(" ", 1)
    number = 2
    while not registry.claim_name(f"{core} {number} {form}"):
        number += 1
    return f"{core} {number} {form}"


def _french_identity(rng: random.Random, registry: Registry, *, subsidiary: bool) -> Identity:
    sector = rng.choices(words.SECTORS, weights=[s.weight for s in words.SECTORS])[0]
    town = rng.choice(words.TOWNS)
    if subsidiary:
        legal_name = _unique_name(registry, lambda: subsidiary_name(rng))
    else:
        legal_name = _unique_name(registry, lambda: french_company_name(rng, sector, town.name))
    siren = make_siren(rng, registry)
    domain = domain_for(legal_name)
    phone = french_landline(rng, town.zone)
    return Identity(
        legal_name=legal_name,
        siren=siren,
        siret=make_siret(rng, siren),
        vat_number=french_vat(siren),
        email=f"{rng.choice(words.ACCOUNTING_MAILBOXES)}@{domain}",
        phone=phone,
        language="en" if subsidiary else "fr",
        country="FR",
        address={
            "line1": french_street(rng),
            "postcode": town.postcode,
            "city": town.name,
            "country": "FR",
        },
        sector=sector,
        foreign=False,
        contacts=make_contacts(rng, domain, subsidiary, phone),
    )


def _foreign_identity(rng: random.Random, registry: Registry, place: ForeignPlace) -> Identity:
    sector = rng.choices(words.SECTORS, weights=[s.weight for s in words.SECTORS])[0]
    legal_name = _unique_name(registry, lambda: foreign_company_name(rng, place.country))
    domain = domain_for(legal_name)
    phone = foreign_phone(rng, place)
    english = place.language == "en"
    vat_number = foreign_vat(rng, place.country)
    while not registry.claim_number(vat_number):
        vat_number = foreign_vat(rng, place.country)
    return Identity(
        legal_name=legal_name,
        siren="",
        siret="",
        vat_number=vat_number,
        email=f"{'invoices' if english else 'comptabilite'}@{domain}",
        phone=phone,
        language=place.language,
        country=place.country,
        address={
            "line1": foreign_street(rng, place.country),
            "postcode": place.postcode,
            "city": place.town,
            "country": place.country,
        },
        sector=sector,
        foreign=True,
        contacts=make_contacts(rng, domain, english, phone, abroad=True),
    )
