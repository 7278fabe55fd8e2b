"""Template helpers of the console pages."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString

from relance.console.access import Can, Console

register = template.Library()


@register.filter
def can(console: Console | None, what: str) -> bool:
    """``{% if console|can:"APPROVE" %}``: show an action only to who may take it (the view
    checks again)."""
    return console is not None and console.can(Can[what])


@register.filter
def may_work(console: Console | None, customer: Any) -> bool:
    return console is not None and console.may_work(customer)


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
