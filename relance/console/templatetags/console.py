"""Template helpers of the console pages."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import template
from django.utils import translation
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import pgettext_lazy

from relance.bank.models import Confidence
from relance.console.access import Can, Console
from relance.console.charts import month_label as _month_label
from relance.dunning import defaults, labels
from relance.ledger import timeline

register = template.Library()


@register.filter
def can(console: Console | None, what: str) -> bool:
    """``{% if console|can:"APPROVE" %}``: show an action only to who may take it (the view
    checks again)."""
    return console is not None and console.can(Can[what])


@register.filter
def may_work(console: Console | None, customer: Any) -> bool:
    return console is not None and console.may_work(customer)


# French sets a space before these signs (the catalogue's rule, tests/test_translations.py):
# a no-break one before ":", a narrow no-break one before ";", "!" and "?".
FRENCH_SPACE_BEFORE = {":": "\u00a0", ";": "\u202f", "!": "\u202f", "?": "\u202f"}


def _sign(sign: str) -> str:
    language = translation.get_language() or ""
    if language.split("-")[0] == "fr":
        return FRENCH_SPACE_BEFORE[sign] + sign
    return sign


@register.simple_tag
def colon() -> str:
    """``{% translate "Risk" %}{% colon %} {{ risk }}``: a colon after a label, spaced as
    the page's language spaces it (French: "Risque\u00a0: Moyen")."""
    return _sign(":")


@register.simple_tag
def semicolon() -> str:
    """A semicolon between the entries of a list, spaced as the page's language spaces it."""
    return _sign(";")


@register.filter
def step_label(step: Any) -> str:
    """A step (a model, a view or a dict with ``name`` and ``template``) by its label."""
    if isinstance(step, dict):
        return labels.step_label(step.get("name"), step.get("template", ""))
    return labels.step_label(step.name, step.template)


# The labels' own functions, as filters of the same names.
for _label in (labels.template_label, labels.channel_label, labels.lateness, labels.offset_label):
    register.filter(_label)
# ``{{ scenario.name|name_for_reader }}``: a shipped scenario's or rule's name in the
# reader's language.
register.filter(defaults.name_for_reader)


# Why a bank credit was matched (the rules of relance.bank.matching), for a reader.
EVIDENCE_LABELS = {
    "rf_reference": pgettext_lazy("bank evidence", "Payment reference"),
    "invoice_number": pgettext_lazy("bank evidence", "Invoice number"),
    "iban": pgettext_lazy("bank evidence", "IBAN"),
    "amount": pgettext_lazy("bank evidence", "Amount"),
}


@register.filter
def evidence_label(rule: str) -> str:
    return str(EVIDENCE_LABELS.get(rule, rule))


@register.filter
def confidence_label(code: str) -> str:
    return labels.choice_label(Confidence, code)


@register.filter
def month_label(day: dt.date) -> str:
    return _month_label(day)


# What a line must not break inside, in a text: a reference with a hyphen or a slash and a
# digit ("FA-2026-001", "ZORG-F800"), an amount and its currency ("1 234,56 EUR"), a date.
WHOLE = re.compile(
    r"(?<![\w-])[A-Z][A-Z0-9]*(?:[-/][A-Z0-9]+)*-[A-Z]*\d[A-Z0-9]*(?:[-/][A-Z0-9]+)*"
    r"|(?:[€$£][\u00a0\u202f ]?)?\d{1,3}(?:[\u00a0\u202f ,.]\d{3})*[.,]\d\d"
    r"(?:[\u00a0\u202f ](?:€|EUR|USD|GBP|CHF))?"
    r"|\b\d\d/\d\d/\d{4}\b"
    r"|\b\d{4}-\d\d-\d\d\b"
)


@register.filter
def nowrap(value: Any) -> str:
    """``{{ invoice.number|nowrap }}``: a number, an amount or a date kept on one line (an
    invoice number breaks at its hyphen otherwise, on a phone)."""
    return format_html('<span class="nowrap">{}</span>', value)


@register.filter(needs_autoescape=True)
def unbroken(text: Any, autoescape: bool = True) -> str:
    """``{{ entry.summary|unbroken }}``: a text whose numbers, amounts and dates (``WHOLE``)
    each stay on one line, the rest breaking as it may."""
    text = str(text)
    escape = conditional_escape if autoescape else str
    parts, last = [], 0
    for found in WHOLE.finditer(text):
        parts += [escape(text[last : found.start()]), nowrap(found.group())]
        last = found.end()
    parts.append(escape(text[last:]))
    return mark_safe("".join(parts))  # each part escaped above


@register.simple_tag(takes_context=True)
def summary(context: template.Context, event: Any) -> str:
    """``{% summary entry %}``: a timeline event's summary, in the reader's language when
    its data keeps its text (``timeline.shown``), else as written, in the organisation's;
    marked with the language it is in, its numbers, amounts and dates unbroken."""
    data = getattr(event, "data", None)
    if isinstance(data, dict) and timeline.KEPT in data:
        text, language = timeline.shown(event.summary, data), translation.get_language()
    else:
        console = getattr(context.get("request"), "console", None)
        text = event.summary
        language = console.organisation.language if console else translation.get_language()
    return format_html('<span lang="{}">{}</span>', language, unbroken(text))


@register.tag("table_card")
def table_card(parser: template.base.Parser, token: template.base.Token) -> TableCard:
    """``{% table_card "tasks" caption %}<thead>…</tbody>{% endtable_card %}``: a list's
    table as every list page draws it (in a card, scrolling sideways on a narrow screen
    and reachable by keyboard, its caption for screen readers), in one place."""
    bits = token.split_contents()
    if len(bits) != 3:
        raise template.TemplateSyntaxError("table_card takes a class name and a caption")
    nodelist = parser.parse(("endtable_card",))
    parser.delete_first_token()
    return TableCard(parser.compile_filter(bits[1]), parser.compile_filter(bits[2]), nodelist)


class TableCard(template.Node):
    def __init__(
        self,
        name: template.base.FilterExpression,
        caption: template.base.FilterExpression,
        nodelist: template.NodeList,
    ):
        self.name, self.caption, self.nodelist = name, caption, nodelist

    def render(self, context: template.Context) -> str:
        shell = context.template.engine.get_template("console/_table_card.html")  # type: ignore[union-attr]
        with context.push(table_name=self.name.resolve(context),
                          table_caption=self.caption.resolve(context),
                          table_body=SafeString(self.nodelist.render(context))):  # fmt: skip
            return shell.render(context)
