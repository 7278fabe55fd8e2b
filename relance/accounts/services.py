"""Organisations and members: creation and lookup, members' roles, shared by the CLI, the
console and imports."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from relance.accounts.models import Membership, Organisation, Role
from relance.audit import trail
from relance.ledger.timeline import Text, label

if TYPE_CHECKING:
    from django.http import HttpRequest


class OrganisationNotFound(Exception):
    pass


def resolve_organisation(
    slug: str | None, *, create: bool = False, defaults: dict[str, str] | None = None
) -> Organisation:
    """The organisation named by ``slug``; the only one when ``slug`` is omitted.

    A missing organisation is an error (a typo must not start a new ledger), unless
    ``create`` is given (``relance import --create-org``): it is then created, named by its
    slug, with ``defaults`` (country, currency, language) for what they say.
    """
    if slug:
        org = Organisation.objects.filter(slug=slug).first()
        if org:
            return org
        if create:
            try:
                return create_organisation(slug, name=slug, **(defaults or {}))
            except ValueError as exc:
                raise OrganisationNotFound(str(exc)) from None
        raise OrganisationNotFound(
            f"no organisation {slug!r}; create it with `relance createorg {slug} --name NAME` "
            "(or `relance import --create-org`)"
        )
    slugs = list(Organisation.objects.values_list("slug", flat=True)[:11])
    if len(slugs) == 1:
        return Organisation.objects.get(slug=slugs[0])
    if not slugs:
        raise OrganisationNotFound(
            "there is no organisation yet: create one with `relance createorg`, "
            "or import into a new one with --org SLUG --create-org"
        )
    raise OrganisationNotFound(
        "several organisations exist; choose one with --org (" + ", ".join(slugs[:10]) + ")"
    )


def create_organisation(
    slug: str,
    *,
    name: str,
    country: str = "FR",
    currency: str = "EUR",
    language: str = "fr",
    **fields: object,
) -> Organisation:
    from relance.dunning.defaults import install_defaults

    if slugify(slug) != slug:
        raise ValueError(f"{slug!r} is not a valid slug (lowercase letters, digits, hyphens)")
    country, currency = check_country(country), check_currency(currency)
    check_organisation_defaults(country=country, currency=currency, language=language)
    with transaction.atomic():
        organisation = Organisation.objects.create(
            slug=slug, name=name, country=country, currency=currency, language=language, **fields
        )
        trail.record(organisation, "organisation.created", target=organisation,
                     summary=Text(gettext_noop("created %(slug)s (%(name)s)"),
                                  {"slug": slug, "name": name}),
                     data={"slug": slug, "name": name, "country": country,
                           "currency": currency, "language": language})  # fmt: skip
        # Every organisation starts with the four default scenarios, ready to run.
        install_defaults(organisation)
    return organisation


def check_organisation_defaults(*, country: str, currency: str, language: str) -> None:
    """Raise ValueError naming the first of an organisation's country (ISO 3166 alpha-2),
    currency (ISO 4217) and language that is not one."""
    check_country(country)
    check_currency(currency)
    languages = [code for code, _name in settings.LANGUAGES]
    if language not in languages:
        raise ValueError(f"language {language!r} is not one of {', '.join(languages)}")


def check_country(code: str) -> str:
    """``code`` in capitals if it is an ISO 3166 alpha-2 country code (``fr`` gives ``FR``);
    else a ValueError. Holidays and the law follow the country: ``ZZ`` would give none."""
    import pycountry

    upper = code.strip().upper() if isinstance(code, str) else ""
    if not (len(upper) == 2 and upper.isascii() and pycountry.countries.get(alpha_2=upper)):
        raise ValueError(
            _("country %(code)s is not an ISO 3166 country code such as FR") % {"code": repr(code)}
        )
    return upper


@functools.lru_cache(maxsize=256)
def is_currency(code: str) -> bool:
    """Whether ``code`` is an ISO 4217 currency code as written (capitals), asked once per
    code: a file's thousands of rows hold one or two."""
    try:
        return check_currency(code) == code
    except ValueError:
        return False


def check_currency(code: str) -> str:
    """``code`` in capitals if it is an ISO 4217 currency code (``eur`` gives ``EUR``);
    else a ValueError. Amounts are shown and compared in it: ``EURO`` is a typing mistake."""
    import pycountry

    upper = code.strip().upper() if isinstance(code, str) else ""
    if not (len(upper) == 3 and upper.isascii() and pycountry.currencies.get(alpha_3=upper)):
        raise ValueError(
            _("currency %(code)s is not an ISO 4217 currency code such as EUR")
            % {"code": repr(code)}
        )
    return upper


class MemberRefused(ValueError):
    """A change of members refused (an unknown member, the last administrator...); nothing
    was written."""


@dataclass(frozen=True)
class Member:
    user_id: int
    email: str
    role: str
    last_login: dt.datetime | None
    joined: dt.datetime


def members_of(organisation: Organisation) -> list[Member]:
    """The organisation's members, administrators first, then by login; one query."""
    rows = (
        Membership.objects.filter(organisation=organisation)
        .select_related("user")
        .order_by("user__username")
    )
    members = [
        Member(m.user_id, m.user.get_username(), m.role, m.user.last_login, m.created_at)
        for m in rows
    ]
    return sorted(members, key=lambda m: RANK_ORDER.index(m.role))


RANK_ORDER: list[str] = [Role.ADMIN, Role.MANAGER, Role.COLLECTOR, Role.VIEWER]


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise MemberRefused(f"unknown role {role!r}; one of {', '.join(Role.values)}")


def _membership(organisation: Organisation, email: str) -> Membership:
    found = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(organisation=organisation, user__username=email.strip().lower())
        .first()
    )
    if found is None:
        raise MemberRefused(f"{email} is not a member of {organisation.slug}")
    return found


def _keep_an_admin(organisation: Organisation, leaving: Membership, what: str) -> None:
    """Refuse to leave the organisation without an administrator: nobody could then manage
    its members or settings. The admins' rows are locked, so that two admins demoting each
    other at once cannot both succeed."""
    if leaving.role != Role.ADMIN:
        return
    admins = list(
        Membership.objects.select_for_update()
        .filter(organisation=organisation, role=Role.ADMIN)
        .values_list("pk", flat=True)
    )
    if admins == [leaving.pk]:
        raise MemberRefused(
            f"{leaving.user.get_username()} is the last administrator of {organisation.slug}: "
            f"give another member the admin role before you {what}"
        )


@transaction.atomic
def change_role(
    organisation: Organisation,
    email: str,
    role: str,
    *,
    by: Any = None,
    request: HttpRequest | None = None,
) -> Membership:
    """Give a member another role; it takes effect on their next page (roles are read on
    every request). Never demotes the last administrator."""
    _check_role(role)
    membership = _membership(organisation, email)
    if membership.role == role:
        return membership
    if role != Role.ADMIN:
        _keep_an_admin(organisation, membership, "change their role")
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    username = membership.user.get_username()
    trail.record(organisation, "member.changed", user=by, target=membership.user,
                 summary=Text(gettext_noop("%(username)s is %(role)s (was %(previous)s)"),
                              {"username": username, "role": label(Role, role),
                               "previous": label(Role, previous)}),
                 request=request,
                 data={"user": username, "role": role, "previous_role": previous})  # fmt: skip
    return membership


@transaction.atomic
def remove_member(
    organisation: Organisation,
    email: str,
    *,
    by: Any = None,
    request: HttpRequest | None = None,
) -> None:
    """Take a member out of the organisation (the user stays, with their other
    organisations). Never the last administrator, be it oneself."""
    membership = _membership(organisation, email)
    _keep_an_admin(organisation, membership, "remove them")
    username = membership.user.get_username()
    membership.delete()
    trail.record(organisation, "member.removed", user=by, target=membership.user,
                 summary=Text(gettext_noop("%(username)s removed"), {"username": username}),
                 request=request,
                 data={"user": username, "role": membership.role})  # fmt: skip


@transaction.atomic
def add_member(
    organisation: Organisation,
    email: str,
    role: str,
    password: str | None = None,
    *,
    by: Any = None,
    request: HttpRequest | None = None,
) -> AbstractBaseUser:
    """Create the user if needed (the e-mail is the login) and give them a role. A new user
    without a password has none usable until they choose one (``passwords.send_invitation``
    e-mails the link). ``by`` is who did it (None: the command's login)."""
    _check_role(role)
    try:
        validate_email(email.strip())
    except ValidationError:
        raise MemberRefused(f"{email!r} is not an e-mail address") from None
    email = email.strip()
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=email.lower(), defaults={"email": email.lower()}
    )
    # The same password again (the demo's, at every start) is left as it is: nothing changed.
    new_password = bool(password) and (created or not user.check_password(password or ""))
    if new_password:
        user.set_password(password)
        user.save()
    elif created:
        user.set_unusable_password()
        user.save()
    before = (
        Membership.objects.select_for_update()
        .filter(organisation=organisation, user=user)
        .select_related("user")
        .first()
    )
    if before is not None and before.role != role and role != Role.ADMIN:
        _keep_an_admin(organisation, before, "change their role")
    Membership.objects.update_or_create(
        organisation=organisation, user=user, defaults={"role": role}
    )
    if before is None or before.role != role or new_password:
        trail.record(organisation, "member.added" if before is None else "member.changed",
                     user=by, request=request,
                     target=user, summary=Text(gettext_noop("%(username)s is %(role)s"),
                                              {"username": user.get_username(),
                                               "role": label(Role, role)}),
                     data={"user": user.get_username(), "role": role,
                           "previous_role": before.role if before else None,
                           "user_created": created,
                           "password_set": new_password})  # fmt: skip
    return user
