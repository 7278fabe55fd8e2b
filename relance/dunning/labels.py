"""What a reader is shown for the codes of dunning: a step, a template, a channel, a status.

Codes (``first_reminder``, ``formal_notice``) are for files and programs; every page, task
and message asks here for the words, in the active language.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.functional import lazy
from django.utils.translation import ngettext, pgettext, pgettext_lazy

from relance.dunning.defaults import name_for_reader
from relance.dunning.models import CommPurpose, PaymentPlan, StepChannel

TEMPLATE_LABELS: dict[str, Any] = {
    "courtesy": pgettext_lazy("template", "Courtesy reminder"),
    "courtesy_call": pgettext_lazy("template", "Courtesy call"),
    "first_reminder": pgettext_lazy("template", "First reminder"),
    "call": pgettext_lazy("template", "Phone call"),
    "script": pgettext_lazy("template", "Call script"),
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
# A step's name so too: a shipped one (stored in French) in the text's language.
lazy_step_name = lazy(name_for_reader, str)


def step_label(name: str | None, template: str) -> str:
    """A step's name for a reader: the scenario's own label when it has one (a shipped one
    in the reader's language), else its template's (a step named by its code, as a file may
    name it, reads as the template)."""
    own = (name or "").strip()
    if own and own != template:
        return name_for_reader(own)
    return template_label(template)


def choice_label(choices: type[models.Choices], code: str) -> str:
    """A choice's label (a channel, a status) in the active language; an unknown code as
    it is."""
    return str(dict(choices.choices).get(code, code))


def channel_label(code: str) -> str:
    return choice_label(StepChannel, code)


def lateness(days: int) -> str:
    """How late an item is, in words: "10 days late", "due today", "due in 3 days" (never a
    negative number of days late)."""
    if days > 0:
        return ngettext("%(days)s day late", "%(days)s days late", days) % {"days": days}
    if days == 0:
        return pgettext("item", "due today")
    return ngettext("due in %(days)s day", "due in %(days)s days", -days) % {"days": -days}


def offset_label(days: int) -> str:
    """When a step comes, from an item's due date: "3 days before the due date", "on the
    due date", "7 days after the due date" (a step's offset, never a bare signed number)."""
    if days < 0:
        return ngettext(
            "%(days)s day before the due date", "%(days)s days before the due date", -days
        ) % {"days": -days}
    if days == 0:
        return pgettext("step", "on the due date")
    return ngettext("%(days)s day after the due date", "%(days)s days after the due date", days) % {
        "days": days
    }


# What a run counted (``RunResult.counts``), for a reader; the messages it planned are
# "communications_<purpose>_<channel>", its payment plans "plans_<outcome>".
RUN_COUNTS: dict[str, Any] = {
    "queued": pgettext_lazy("run count", "messages to send"),
    "awaiting_approval": pgettext_lazy("run count", "messages awaiting approval"),
    "levels": pgettext_lazy("run count", "steps reached by invoices"),
    "broken_promises": pgettext_lazy("run count", "promises broken"),
    "promises_kept": pgettext_lazy("run count", "promises kept"),
    "instalments_paid": pgettext_lazy("run count", "instalments paid"),
    "customers_in_proceedings": pgettext_lazy("run count", "customers in collective proceedings"),
    "chunks_already_done": pgettext_lazy("run count", "parts already done"),
}


def run_count_label(code: str) -> str:
    """A run's count by its name in the active language ("Relance (E-mail)", "promesses
    tenues"); a count it does not know, its code in words."""
    known = RUN_COUNTS.get(code)
    if known is not None:
        return str(known)
    if code.startswith("communications_"):
        for purpose in CommPurpose:
            channel = code.removeprefix(f"communications_{purpose.value}_")
            if channel != code and channel in StepChannel.values:
                return pgettext("run count", "%(purpose)s (%(channel)s)") % {
                    "purpose": purpose.label, "channel": channel_label(channel)}  # fmt: skip
    if code.startswith("plans_") and code.removeprefix("plans_") in PaymentPlan.Status.values:
        status = PaymentPlan.Status(code.removeprefix("plans_")).label
        return pgettext("run count", "payment plans: %(status)s") % {"status": status}
    return code.replace("_", " ")
