"""What a reader is shown for the codes of dunning: a step, a template, a channel, a status.

Codes (``first_reminder``, ``formal_notice``) are for files and programs; every page, task
and message asks here for the words, in the active language.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.functional import lazy
from django.utils.translation import pgettext_lazy

from relance.dunning.models import StepChannel

TEMPLATE_LABELS: dict[str, Any] = {
    "courtesy": pgettext_lazy("template", "Courtesy reminder"),
    "courtesy_call": pgettext_lazy("template", "Courtesy call"),
    "first_reminder": pgettext_lazy("template", "First reminder"),
    "call": pgettext_lazy("template", "Phone call"),
    "firm_reminder": pgettext_lazy("template", "Firm reminder"),
    "registered_letter": pgettext_lazy("template", "Registered letter"),
    "formal_notice": pgettext_lazy("template", "Formal notice"),
    "litigation_review": pgettext_lazy("template", "Litigation review"),
    "handover": pgettext_lazy("template", "Hand-over"),
    "instalment_reminder": pgettext_lazy("template", "Instalment reminder"),
    "plan_confirmation": pgettext_lazy("template", "Payment plan confirmation"),
    "thanks": pgettext_lazy("template", "Thank-you message"),
    "statement": pgettext_lazy("template", "Statement of account"),
    "generic": pgettext_lazy("template", "Reminder"),
}


def template_label(code: str) -> str:
    """A template's name for a reader; an organisation's own template by its code, made
    readable (``late_fees`` reads "Late fees")."""
    known = TEMPLATE_LABELS.get(code)
    if known is not None:
        return str(known)
    return code.replace("_", " ").replace("-", " ").strip().capitalize() or code


# A template's name in the language a text is rendered in (a timeline summary, written in
# the organisation's).
lazy_template_label = lazy(template_label, str)


def step_label(name: str | None, template: str) -> str:
    """A step's name for a reader: the scenario's own label when it has one, else its
    template's (a step named by its code, as a file may name it, reads as the template)."""
    own = (name or "").strip()
    if own and own != template:
        return own
    return template_label(template)


def choice_label(choices: type[models.Choices], code: str) -> str:
    """A choice's label (a channel, a status) in the active language; an unknown code as
    it is."""
    return str(dict(choices.choices).get(code, code))


def channel_label(code: str) -> str:
    return choice_label(StepChannel, code)
