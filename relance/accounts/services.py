"""Organisations and members: creation and lookup, shared by the CLI, the console and imports."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils.text import slugify

from relance.accounts.models import Membership, Organisation, Role


class OrganisationNotFound(Exception):
    pass


def resolve_organisation(slug: str | None, *, create: bool = False) -> Organisation:
    """The organisation named by ``slug``; the only one when ``slug`` is omitted.

    With ``create``, a missing organisation is created (an import may start a new one).
    """
    if slug:
        org = Organisation.objects.filter(slug=slug).first()
        if org:
            return org
        if create:
            return create_organisation(slug, name=slug)
        raise OrganisationNotFound(f"no organisation {slug!r}; create it with `relance createorg`")
    slugs = list(Organisation.objects.values_list("slug", flat=True)[:11])
    if len(slugs) == 1:
        return Organisation.objects.get(slug=slugs[0])
    if not slugs:
        raise OrganisationNotFound(
            "there is no organisation yet: create one with `relance createorg`, "
            "or name one with --org and an import will create it"
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
    with transaction.atomic():
        organisation = Organisation.objects.create(
            slug=slug, name=name, country=country, currency=currency, language=language, **fields
        )
        # Every organisation starts with the four default scenarios, ready to run.
        install_defaults(organisation)
    return organisation


@transaction.atomic
def add_member(
    organisation: Organisation, email: str, role: str, password: str | None = None
) -> AbstractBaseUser:
    """Create the user if needed (the e-mail is the login) and give them a role."""
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(Role.values)}")
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=email.lower(), defaults={"email": email.lower()}
    )
    if password:
        user.set_password(password)
        user.save()
    elif created:
        user.set_unusable_password()
        user.save()
    Membership.objects.update_or_create(
        organisation=organisation, user=user, defaults={"role": role}
    )
    return user
