"""Template helpers of the console pages."""

from __future__ import annotations

from typing import Any

from django import template

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
