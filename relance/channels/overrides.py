"""An organisation's own wording of its messages: stored in ``MessageTemplate``, served to
the message engine by ``DatabaseLoader``, edited in the console (docs/templates.md).

- ``DatabaseLoader`` answers ``org-<slug>/channels/<channel>/<lang>/<slug>.<part>`` from the
  database, uncached: an edit applies to the next message. A draft being previewed
  (``templates.drafted``) is answered before the stored row.
- ``catalogue`` lists every template an organisation may edit: the shipped ones and its
  overrides, per channel and language.
- ``check`` compiles the three parts and renders them on a sample: the errors, each with
  its part and line; ``save`` and ``reset`` write (and audit) an override.
- ``preview`` renders a template, stored or drafted, for one of the organisation's real
  customers with the context the outbox builds (``channels.context.message_context``).

Letters are edited here too (channel ``letter``, one part: the Typst source, ``typ``):
listed from ``documents.typesetting``, checked by compiling them on an example letter, and
previewed by ``documents.letters.preview`` (docs/letters.md).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import transaction
from django.template import Origin, TemplateDoesNotExist, TemplateSyntaxError
from django.template.loaders.base import Loader
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.channels import templates
from relance.channels.models import MessageTemplate, TemplatePart
from relance.channels.paying import Payment, data_uri
from relance.documents import typesetting
from relance.dunning import instalments, plans
from relance.dunning.batch import Facts, InstalmentDue, PlanSchedule, load_email_facts
from relance.dunning.models import (
    CommPurpose,
    Communication,
    CommunicationItem,
    PaymentPlan,
    StepChannel,
)
from relance.ledger.models import Customer, Invoice
from relance.ledger.timeline import Text, label, lazy_listed

NAME = re.compile(
    r"org-(?P<org>[-a-zA-Z0-9_]+)/channels/(?P<channel>[a-z_]+)/(?P<language>[a-z]{2})/"
    r"(?P<slug>[-a-zA-Z0-9_]+)\.(?P<part>subject\.txt|txt|html)"
)
# An e-mail's parts; a text message's or a call script's: its text alone.
PARTS = (TemplatePart.SUBJECT, TemplatePart.TEXT, TemplatePart.HTML)
TEXT_PARTS = (TemplatePart.TEXT,)
# A letter's template: one Typst source (relance.documents.typesetting).
LETTER = typesetting.LETTER_CHANNEL
LETTER_PARTS = (TemplatePart.TYP,)
# A message template is a page or two of text: anything larger is a paste gone wrong.
MAX_BODY = 100_000
SLUG = re.compile(r"[a-z0-9][-a-z0-9_]{0,63}")


# The overrides of the organisations a batch of messages belongs to, read in one query
# (``snapshot``): without it, every message would ask the database for each of its parts.
_snapshot: contextvars.ContextVar[dict[str, dict[str, str]] | None] = contextvars.ContextVar(
    "template_snapshot", default=None
)


@contextlib.contextmanager
def snapshot(organisation_ids: Iterable[int]) -> Iterator[None]:
    """Within the block, the overrides of these organisations come from one read made at
    its start: for a batch of messages or a page of previews, short enough that an edit
    still applies to the next batch."""
    found: dict[str, dict[str, str]] = {}
    rows = MessageTemplate.objects.filter(organisation_id__in=set(organisation_ids))
    for slug in Organisation.objects.filter(pk__in=set(organisation_ids)).values_list(
        "slug", flat=True
    ):
        found[slug] = {}
    for org, channel, language, slug, part, body in rows.values_list(
        "organisation__slug", "channel", "language", "slug", "part", "body"
    ):
        found[org][f"org-{org}/channels/{channel}/{language}/{slug}.{part}"] = body
    token = _snapshot.set(found)
    try:
        yield
    finally:
        _snapshot.reset(token)


class DatabaseLoader(Loader):
    """Django template loader for the ``org-...`` names, from ``MessageTemplate``."""

    def get_template_sources(self, template_name: str) -> Any:
        if NAME.fullmatch(template_name):
            yield Origin(name=template_name, template_name=template_name, loader=self)

    def get_contents(self, origin: Origin) -> str:
        drafted = templates.draft(origin.name)
        if drafted is not None:
            return drafted
        match = NAME.fullmatch(origin.name)
        if match is None:
            raise TemplateDoesNotExist(origin)
        read = _snapshot.get()
        if read is not None and match["org"] in read:
            if origin.name not in read[match["org"]]:
                raise TemplateDoesNotExist(origin)
            return read[match["org"]][origin.name]
        body = (
            MessageTemplate.objects.filter(
                organisation__slug=match["org"],
                channel=match["channel"],
                language=match["language"],
                slug=match["slug"],
                part=match["part"],
            )
            .values_list("body", flat=True)
            .first()
        )
        if body is None:
            raise TemplateDoesNotExist(origin)
        return body


def parts_of(channel: str) -> tuple[TemplatePart, ...]:
    """The parts a template of ``channel`` is written in."""
    if channel == LETTER:
        return LETTER_PARTS
    return PARTS if channel == StepChannel.EMAIL else TEXT_PARTS


def name_of(organisation: Organisation, channel: str, language: str, slug: str, part: str) -> str:
    return f"org-{organisation.slug}/channels/{channel}/{language}/{slug}.{part}"


def shipped_name(channel: str, language: str, slug: str, part: str) -> str:
    return f"channels/{channel}/{language}/{slug}.{part}"


# -- what can be edited -------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    channel: str
    language: str
    slug: str
    shipped: bool  # Relance ships a wording for it
    overridden: bool  # the organisation has its own
    updated_at: dt.datetime | None = None


def shipped_slugs() -> dict[tuple[str, str], list[str]]:
    """(channel, language) -> template slugs shipped with Relance (partials, whose names
    start with ``_``, are parts of the others and not edited on their own)."""
    found: dict[tuple[str, str], list[str]] = {}
    root = templates.BUILTIN_DIR / "channels"
    for path in sorted(root.glob("*/*/*.txt")):
        if path.name.startswith("_") or path.name.endswith(".subject.txt"):
            continue
        channel, language = path.parent.parent.name, path.parent.name
        found.setdefault((channel, language), []).append(path.name.removesuffix(".txt"))
    for language, slugs in typesetting.shipped_slugs().items():
        found[(LETTER, language)] = list(slugs)
    return found


def catalogue(organisation: Organisation) -> list[Entry]:
    """Every template of the organisation: shipped ones and its overrides, by channel,
    slug and language."""
    overridden: dict[tuple[str, str, str], dt.datetime] = {}
    for channel, language, slug, updated in MessageTemplate.objects.filter(
        organisation=organisation
    ).values_list("channel", "language", "slug", "updated_at"):
        key = (channel, language, slug)
        overridden[key] = max(updated, overridden.get(key, updated))
    keys = {(c, lang, s) for (c, lang), slugs in shipped_slugs().items() for s in slugs}
    shipped = set(keys)
    keys |= set(overridden)
    return [
        Entry(c, lang, s, (c, lang, s) in shipped, (c, lang, s) in overridden,
              overridden.get((c, lang, s)))
        for c, s, lang in sorted((c, s, lang) for c, lang, s in keys)
    ]  # fmt: skip


def sources(organisation: Organisation, channel: str, language: str, slug: str) -> dict[str, str]:
    """The wording in force for each part: the organisation's own, else the shipped one
    ("" for a part neither has)."""
    own = dict(
        MessageTemplate.objects.filter(
            organisation=organisation, channel=channel, language=language, slug=slug
        ).values_list("part", "body")
    )
    return {part.value: own.get(part.value, _shipped_source(channel, language, slug, part.value))
            for part in parts_of(channel)}  # fmt: skip


def shipped_sources(channel: str, language: str, slug: str) -> dict[str, str]:
    return {
        part.value: _shipped_source(channel, language, slug, part.value)
        for part in parts_of(channel)
    }


def _shipped_source(channel: str, language: str, slug: str, part: str) -> str:
    if channel == LETTER:
        return _read(typesetting.SHIPPED / language / f"{slug}.{part}")
    path = templates.BUILTIN_DIR / shipped_name(channel, language, slug, part)
    return _read(path)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return ""


# -- checking -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateError:
    """What is wrong with a template: in English for the record (``str``); for a page,
    the field by its label (``field``) and the message in the reader's language
    (``text``). Relance's own messages are marked with ``gettext_noop``, ``values`` their
    parameters; the template engine's are said as it says them."""

    part: str  # subject.txt, txt, html, typ ("": the whole template)
    line: int | None
    message: str
    values: Mapping[str, Any] | None = None

    def __str__(self) -> str:
        where = f"{self.part}, line {self.line}" if self.line else self.part
        message = self.message % self.values if self.values else self.message
        return f"{where}: {message}" if where else message

    @property
    def field(self) -> str:
        """The part as the editor labels it ("Subject", "Text"), in the active language."""
        return str(TemplatePart(self.part).label) if self.part in TemplatePart.values else ""

    @property
    def text(self) -> str:
        return _(self.message) % self.values if self.values else _(self.message)


EMPTY = gettext_noop("may not be empty")
TOO_LONG = gettext_noop("longer than %(n)s characters")


@dataclass
class Preview:
    subject: str = ""
    text: str = ""
    html: str | None = None
    errors: list[TemplateError] = field(default_factory=list)
    customer: Customer | None = None
    # A letter: its first page as PNG (or its PDF, ``letter_preview(pdf=True)``); or, when
    # no such letter can be written for the customer, why (not the template's fault).
    document: bytes | None = None
    problem: str = ""


def compile_errors(parts: Mapping[str, str], channel: str = "") -> list[TemplateError]:
    """Syntax errors of each part, with their line, as the message engine reads them (a
    letter's Typst source is compiled by ``preview``)."""
    errors = []
    for part in parts_of(channel):
        body = parts.get(part.value, "")
        if len(body) > MAX_BODY:
            errors.append(TemplateError(part.value, None, TOO_LONG, {"n": MAX_BODY}))
            continue
        if part == TemplatePart.TYP:  # Typst: compiled with the letter's data, in ``preview``
            continue
        try:
            templates.engine(autoescape=part == TemplatePart.HTML, debug=True).from_string(body)
        except TemplateSyntaxError as error:
            errors.append(TemplateError(part.value, _line(error), str(error)))
    for part in (TemplatePart.SUBJECT, TemplatePart.TEXT, TemplatePart.TYP):
        if part in parts_of(channel) and not parts.get(part.value, "").strip():
            errors.append(TemplateError(part.value, None, EMPTY))
    return errors


def _line(error: Exception) -> int | None:
    info = getattr(error, "template_debug", None)
    return int(info["line"]) if info and info.get("line") else None


def preview(
    organisation: Organisation,
    channel: str,
    language: str,
    slug: str,
    customer: Customer | None,
    today: dt.date,
    parts: Mapping[str, str] | None = None,
) -> Preview:
    """The message as the outbox would write it today for ``customer`` (their open items,
    penalties, payment reference), with ``parts`` in place of the stored wording; errors
    (syntax, or a failure while rendering) come back with their part and line."""
    if channel == LETTER:
        source = (parts or sources(organisation, channel, language, slug))[TemplatePart.TYP]
        return letter_preview(organisation, language, slug, customer, today, source)
    result = Preview(customer=customer)
    if parts is not None:
        result.errors = compile_errors(parts, channel)
        if result.errors:
            return result
    drafts = {
        name_of(organisation, channel, language, slug, part): body
        for part, body in (parts or {}).items()
    }
    context = _context(organisation, customer, channel, language, slug, today)
    try:
        with templates.drafted(drafts):
            rendered = templates.render(
                organisation_slug=organisation.slug, channel=channel, language=language,
                slug=slug, context=context, debug=True,
            )  # fmt: skip
    except (TemplateSyntaxError, TemplateDoesNotExist, RecursionError) as error:
        result.errors = [TemplateError("", _line(error), *_describe(error))]
        return result
    except Exception as error:  # a filter given what it cannot handle: shown, not a 500
        result.errors = [TemplateError("", _line(error), f"{type(error).__name__}: {error}")]
        return result
    result.subject, result.text, result.html = rendered.subject, rendered.text, rendered.html
    return result


def letter_preview(
    organisation: Organisation,
    language: str,
    slug: str,
    customer: Customer | None,
    today: dt.date,
    source: str,
    *,
    pdf: bool = False,
) -> Preview:
    """The letter ``slug`` written with the Typst ``source`` for ``customer`` (None: an
    example customer), as the first page in PNG (``pdf``: the whole PDF); Typst's error
    with its line, or why no such letter can be written for this customer."""
    from relance.channels.base import NoRecipient
    from relance.documents import letters

    result = Preview(customer=customer)
    result.errors = compile_errors({TemplatePart.TYP.value: source}, LETTER)
    if result.errors:
        return result
    try:
        result.document = letters.preview(
            organisation, customer, slug, language, source, today, image=not pdf
        )
    except typesetting.DocumentError as error:
        # A line of the draft, or of the layout or another letter it imports; never one
        # of the document Relance wraps it in.
        if error.file == letters.module_of(language, slug) + ".typ":
            where, line = TemplatePart.TYP.value, error.line
        elif error.file == typesetting.LAYOUT or "/" in error.file:
            where, line = error.file, error.line
        else:
            where, line = TemplatePart.TYP.value, None
        result.errors = [TemplateError(where, line, error.message)]
    except NoRecipient:
        assert customer is not None
        result.problem = _(
            "%(customer)s has no postal address: no letter can be written to them. "
            "Add one to the customer, or preview on another customer."
        ) % {"customer": customer.legal_name}
    except letters.RateMissing as error:
        if error.missing is None:
            result.problem = _(
                "This letter states late-payment penalties and a rate they need is unknown "
                "(%(rate)s): it would be held, not sent. `relance rates fetch` adds it."
            ) % {"rate": error}
        else:
            result.problem = _(
                "This letter states late-payment penalties, and a rate they need is unknown:"
                " it would be held, not sent, until the rate is added. %(rate)s"
            ) % {"rate": error.missing.for_reader().shown()}
    except letters.Refused as error:
        result.problem = _("No such letter can be written for this customer today: %(why)s.") % {
            "why": error
        }
    return result


NO_TEMPLATE = gettext_noop(
    "no template %(name)s: a template may extend or include the shared ones (channels/...) only"
)
SELF_INCLUDED = gettext_noop("the template includes itself")


def _describe(error: Exception) -> tuple[str, dict[str, Any] | None]:
    """The message of an error of the template engine, and its values."""
    if isinstance(error, TemplateDoesNotExist):
        return NO_TEMPLATE, {"name": str(error.args[0])}
    if isinstance(error, RecursionError):
        return SELF_INCLUDED, None
    return str(error), None


def _context(
    organisation: Organisation,
    customer: Customer | None,
    channel: str,
    language: str,
    slug: str,
    today: dt.date,
) -> dict[str, Any]:
    """``message_context`` for an unsaved reminder listing the customer's open items: the
    context the outbox gives a real message."""
    from relance.channels.context import message_context

    if customer is None:
        customer = Customer(organisation=organisation, reference="C-0001",
                            legal_name="Exemple SAS", language=language)  # fmt: skip
        invoices = _example_invoices(organisation, customer, slug, today)
    else:
        invoices = list(
            Invoice.objects.filter(
                organisation=organisation, customer=customer, balance__gt=organisation.min_balance
            ).order_by("due_date", "number")[:50]
        )
    comm = Communication(
        organisation=organisation, customer=customer, channel=channel, template=slug,
        language=language, purpose=_PURPOSES.get(slug, CommPurpose.REMINDER), run_date=today,
        send_on=today,
    )  # fmt: skip
    items = [CommunicationItem(communication=comm, invoice=invoice, step_position=1,
                               days_overdue=(today - invoice.due_date).days,
                               balance=invoice.balance) for invoice in invoices]  # fmt: skip
    facts = Facts()
    if customer.pk:
        load_email_facts(facts, [customer.pk], [invoice.pk for invoice in invoices])
    if comm.purpose in (CommPurpose.INSTALMENT, CommPurpose.PLAN_CONFIRMATION):
        _shown_plan(comm, facts, _schedule(organisation, customer, invoices, today), today)
    context = message_context(comm, items, today, facts)
    # The payment code shown in the preview's page (which allows data: images only), where
    # an e-mail carries it as a part of its own.
    payment = context.get("payment")
    if isinstance(payment, Payment) and payment.code is not None:
        context["payment"] = payment.shown_at(data_uri(payment.code))
    return context


def _example_invoices(
    organisation: Organisation, customer: Customer, slug: str, today: dt.date
) -> list[Invoice]:
    """What an example customer owes in a preview: two invoices fallen due, or, for a
    courtesy reminder, one that falls due in five days; unsaved."""
    dues = [(5, "1500.00")] if slug == "courtesy" else [(-30, "1200.00"), (-12, "300.00")]
    day = dt.timedelta(days=1)
    return [
        Invoice(
            organisation=organisation,
            customer=customer,
            number=f"F-0000{n}",
            issue_date=today + (days - 30) * day,
            due_date=today + days * day,
            currency=organisation.currency,
            amount=Decimal(amount),
            balance=Decimal(amount),
        )
        for n, (days, amount) in enumerate(dues, start=1)
    ]


# The messages whose purpose is not a reminder's: a preview gives them what they show.
_PURPOSES = {
    "thanks": CommPurpose.THANKS,
    instalments.TEMPLATE: instalments.PURPOSE,
    plans.TEMPLATE: plans.PURPOSE,
}
_EXAMPLE_OWED = Decimal("1200.00")


def _schedule(
    organisation: Organisation, customer: Customer, invoices: list[Invoice], today: dt.date
) -> PlanSchedule:
    """The plan a preview shows: the customer's active one, else what they owe (an example
    sum when that is nothing) in three monthly instalments from a week on."""
    active = PaymentPlan.Status.ACTIVE
    found = (
        PaymentPlan.objects.filter(organisation=organisation, customer=customer, status=active)
        .order_by("-agreed_on", "-pk")
        .prefetch_related("instalments")
        .first()
        if customer.pk
        else None
    )
    if found is not None and found.instalments.all():
        schedule = tuple((i.due_date, i.amount) for i in found.instalments.all())
        return PlanSchedule(found.status, found.agreed_on, schedule)
    owed = sum((invoice.balance for invoice in invoices), Decimal(0))
    owed = owed if owed >= 1 else _EXAMPLE_OWED
    first = today + dt.timedelta(days=7)
    return PlanSchedule(active, today, tuple(plans.propose(owed, 3, first, "month")))


def _shown_plan(comm: Communication, facts: Facts, schedule: PlanSchedule, today: dt.date) -> None:
    """The unsaved ``comm`` given ``schedule`` as its plan, or its next instalment as the
    one it reminds of, in ``facts`` as the outbox loads them for a real message."""
    facts.plans[comm.pk] = schedule
    due, amount = next(
        ((due, amount) for due, amount in schedule.instalments if due >= today),
        schedule.instalments[-1],
    )
    comm.instalment_id = _PREVIEW_INSTALMENT
    facts.instalments[_PREVIEW_INSTALMENT] = InstalmentDue(0, due, amount, Decimal(0))


_PREVIEW_INSTALMENT = -1  # no instalment has this id: the preview's own


# -- writing ------------------------------------------------------------------------------


NOT_A_NAME = gettext_noop("%(slug)s is not a template name (a-z, 0-9, - and _)")


class TemplateRefused(Exception):
    def __init__(self, errors: list[TemplateError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


def check_key(channel: str, language: str, slug: str) -> None:
    if channel not in StepChannel.values or language not in templates.LANGUAGES:
        raise TemplateRefused(
            [TemplateError("", None, gettext_noop("unknown channel or language"))]
        )
    if not SLUG.fullmatch(slug):
        raise TemplateRefused([TemplateError("", None, NOT_A_NAME, {"slug": repr(slug)})])


def save(
    organisation: Organisation,
    channel: str,
    language: str,
    slug: str,
    parts: Mapping[str, str],
    *,
    user: Any = None,
    today: dt.date,
    request: Any = None,
) -> list[str]:
    """Store the organisation's wording of one template (the three parts together, so a
    text is never paired with another wording's HTML; a letter's one Typst source);
    refused with its errors when a part does not compile or the whole does not render (a
    letter: compiled on an example letter). Returns the parts changed."""
    check_key(channel, language, slug)
    parts = {part.value: _newlines(parts.get(part.value, "")) for part in parts_of(channel)}
    errors = compile_errors(parts, channel)
    if not errors:
        errors = preview(organisation, channel, language, slug, None, today, parts).errors
    if errors:
        raise TemplateRefused(errors)
    changed = []
    with transaction.atomic():
        stored = {
            row.part: row
            for row in MessageTemplate.objects.select_for_update().filter(
                organisation=organisation, channel=channel, language=language, slug=slug
            )
        }
        for part, body in parts.items():
            row = stored.get(part)
            if not body.strip():  # no such part: a text-only message, or no subject
                if row is not None:
                    row.delete()
                    changed.append(part)
                continue
            if row is not None and row.body == body:
                continue
            if row is None:
                MessageTemplate.objects.create(
                    organisation=organisation, channel=channel, language=language, slug=slug,
                    part=part, body=body, updated_by=user,
                )  # fmt: skip
            else:
                row.body, row.updated_by = body, user
                row.save(update_fields=["body", "updated_by", "updated_at"])
            changed.append(part)
        if changed:
            trail.record(
                organisation, "template.updated", user=user, request=request,
                target=("template", f"{channel}/{language}/{slug}"),
                summary=Text(gettext_noop("template %(template)s: %(parts)s changed"),
                             {"template": f"{channel}/{language}/{slug}",
                              "parts": lazy_listed(*(label(TemplatePart, p) for p in changed))}),
                data={"channel": channel, "language": language, "slug": slug,
                      "parts": changed},
            )  # fmt: skip
    return changed


def reset(
    organisation: Organisation,
    channel: str,
    language: str,
    slug: str,
    *,
    user: Any = None,
    request: Any = None,
) -> int:
    """Back to the shipped wording: the organisation's own is deleted (and audited)."""
    with transaction.atomic():
        removed, _ = MessageTemplate.objects.filter(
            organisation=organisation, channel=channel, language=language, slug=slug
        ).delete()
        if removed:
            trail.record(
                organisation, "template.reset", user=user, request=request,
                target=("template", f"{channel}/{language}/{slug}"),
                summary=Text(gettext_noop("template %(template)s back to the shipped wording"),
                             {"template": f"{channel}/{language}/{slug}"}),
                data={"channel": channel, "language": language, "slug": slug},
            )  # fmt: skip
    return removed


def _newlines(text: str) -> str:
    # Browsers send CRLF from a textarea; messages are written with LF.
    return text.replace("\r\n", "\n").replace("\r", "\n")
