"""A postal address as letters print it, and which of a customer's addresses letters go
to: one rule for the letters, the registered letters and the hand-over file."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pycountry
from django.utils.translation import gettext as _

# Letters go to the dunning address, else the billing one, else any other.
RANK = {"dunning": 0, "billing": 1}


@dataclass(frozen=True)
class PostalAddress:
    """A postal address as printed in the window: who, up to four street lines, postcode,
    city, country (ISO 3166 alpha-2)."""

    name: str
    lines: tuple[str, ...] = ()
    postcode: str = ""
    city: str = ""
    country: str = "FR"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "lines": list(self.lines), "postcode": self.postcode,
                "city": self.city, "country": self.country}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PostalAddress:
        return cls(
            name=str(data.get("name", "")),
            lines=tuple(str(line) for line in data.get("lines", ())),
            postcode=str(data.get("postcode", "")),
            city=str(data.get("city", "")),
            country=str(data.get("country", "FR")),
        )

    @classmethod
    def of_customer(
        cls, customer: Any, addresses: Sequence[Any] | None = None
    ) -> PostalAddress | None:
        """Where letters to the customer go: its dunning address, else its billing
        address, else any other valid one; None when it has none. ``addresses``: the
        customer's, when already read."""
        usable = [a for a in (customer.addresses.all() if addresses is None else addresses)
                  if a.valid and a.line1]  # fmt: skip
        if not usable:
            return None
        found = min(usable, key=lambda a: RANK.get(a.kind, len(RANK)))
        return cls(customer.legal_name, tuple(x for x in (found.line1, found.line2) if x),
                   found.postcode, found.city, found.country or "FR")  # fmt: skip

    def window_lines(self) -> list[str]:
        """The lines under the name, as printed in an envelope's window."""
        lines = list(self.lines)
        town = " ".join(part for part in (self.postcode, self.city) if part)
        if town:
            lines.append(town)
        if self.country and self.country != "FR":
            country = pycountry.countries.get(alpha_2=self.country)
            lines.append(country.name if country else self.country)
        return lines

    @classmethod
    def of_organisation(cls, organisation: Any) -> PostalAddress:
        """The sender: the organisation's name and its address (free text, one line per
        line; the last that starts with a postcode gives postcode and city)."""
        lines = [line.strip() for line in organisation.address.splitlines() if line.strip()]
        postcode = city = ""
        for n in range(len(lines) - 1, -1, -1):
            if match := re.match(r"^(\d{5})\s+(.+)$", lines[n]):
                postcode, city = match.groups()
                del lines[n:]
                break
        name = organisation.legal_name or organisation.name
        return cls(name, tuple(lines[:4]), postcode, city, organisation.country or "FR")

    def problem(self) -> str:
        """What makes this address unusable for a registered letter, or ""."""
        if not self.name.strip():
            return _("The recipient has no name.")
        if not self.city.strip():
            return _("The recipient's address has no city.")
        if self.country == "FR" and not re.fullmatch(r"\d{5}", self.postcode):
            return _("The recipient's postcode %(postcode)r is not five digits.") % {
                "postcode": self.postcode
            }
        return ""
