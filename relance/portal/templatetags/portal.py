"""Template helpers of the portal's pages: the console's words for the same things, without
the console's tags (its access checks and widgets)."""

from __future__ import annotations

from django import template

from relance.dunning import labels

register = template.Library()
register.filter(labels.lateness)
