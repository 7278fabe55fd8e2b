"""Template helpers of the console pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils import translation
from django.utils.safestring import SafeString

from relance.console.access import Can, Console
from relance.console.charts import month_label as _month_label
from relance.dunning import labels

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


@register.filter
def template_label(code: str) -> str:
    return labels.template_label(code)


@register.filter
def channel_label(code: str) -> str:
    return labels.channel_label(code)


@register.filter
def month_label(day: dt.date) -> str:
    return _month_label(day)


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
