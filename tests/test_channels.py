"""Channels: one module per channel, registered by channel; the outbox finds a channel's
transport in the registry, so a new channel is a new module, not an edit of the outbox."""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import sys
import textwrap

import pytest
from factories import communication, customer, invoice

from relance.channels import registry
from relance.dunning import outbox
from relance.dunning.models import CommStatus, Task
from relance.ledger.models import TimelineEvent

D = dt.date(2026, 11, 24)  # a Tuesday

# A channel as someone adding one would write it: a module of its own, nothing else.
CHANNEL_MODULE = """
from relance.channels import registry
from relance.channels.base import Delivery, NoRecipient, Outgoing

SENT = []


def build(comm, items, today, facts):
    if not comm.customer.phone:
        raise NoRecipient(f"no phone number for {comm.customer.legal_name}")
    text = f"{comm.template}: " + ", ".join(item.invoice.number for item in items)
    return Outgoing(payload=text, message_id=f"<{CHANNEL}-{comm.pk}>",
                    recipients=(comm.customer.phone,), subject=text)


class Transport:
    channel = CHANNEL

    def open(self):
        pass

    def send(self, message):
        SENT.append(message)
        return Delivery(details={"provider": "test"})

    def close(self):
        pass


registry.register(CHANNEL, build=build, transport=Transport)
"""


@pytest.fixture
def channel_module(tmp_path, monkeypatch, settings):
    """Writes a channel module for ``channel`` and names it in ``RELANCE_CHANNELS``."""
    added: list[tuple[str, str]] = []

    def write(channel: str):
        name = f"relance_test_{channel}_channel"
        (tmp_path / f"{name}.py").write_text(
            f"CHANNEL = {channel!r}\n" + textwrap.dedent(CHANNEL_MODULE)
        )
        added.append((name, channel))
        settings.RELANCE_CHANNELS = [*settings.RELANCE_CHANNELS, name]
        return sys.modules[name]

    monkeypatch.syspath_prepend(str(tmp_path))
    settings.RELANCE_CHANNELS = list(registry.DEFAULT_MODULES)
    yield write
    for name, channel in added:
        registry.unregister(channel)
        sys.modules.pop(name, None)


@pytest.fixture
def dupont(org):
    return customer(org, "C001", legal_name="Dupont SA", phone="+33 6 12 34 56 78")


def test_it_sends_through_a_channel_registered_by_a_module_of_its_own(channel_module, dupont):
    sms = channel_module("sms")
    comm = communication(dupont, [invoice(dupont, "F1", due=D - dt.timedelta(days=20))], on=D,
                         channel="sms")  # fmt: skip

    report = outbox.send_due(today=D)

    assert report.as_dict() == {"sent": 1}
    assert sms.SENT == ["first_reminder: F1"]
    comm.refresh_from_db()
    assert (comm.status, comm.message_id, comm.recipient) == (
        CommStatus.SENT, f"<sms-{comm.pk}>", "+33 6 12 34 56 78",
    )  # fmt: skip
    event = TimelineEvent.objects.get(kind="communication_sent")
    assert event.data["provider"] == "test" and event.data["channel"] == "sms"


def test_it_hands_a_customer_the_channel_cannot_reach_to_a_person(channel_module, org):
    channel_module("sms")
    nobody = customer(org, "C002", legal_name="Sans Téléphone SARL")
    comm = communication(nobody, [invoice(nobody, "F2", due=D - dt.timedelta(days=20))], on=D,
                         channel="sms")  # fmt: skip

    assert outbox.send_due(today=D).as_dict() == {"no_address": 1}
    comm.refresh_from_db()
    assert comm.last_error == "no phone number for Sans Téléphone SARL"
    assert Task.objects.get(customer=nobody).data["communications"] == [comm.pk]


@pytest.fixture
def without_letters():
    """An install whose letter channel is not registered (its module left out)."""
    from relance.documents import channel

    registry.unregister("letter")
    yield
    registry.register("letter", build=channel.build_letter, transport=channel.PostTransport)


def test_it_hands_letters_to_a_person_until_a_letter_channel_is_registered(
    without_letters, channel_module, dupont
):
    # ``without_letters`` first: it registers the letter channel again after
    # ``channel_module`` has removed the test's own.
    first = communication(dupont, [invoice(dupont, "F1", due=D - dt.timedelta(days=40))], on=D,
                          channel="letter", template="registered_letter")  # fmt: skip
    assert outbox.send_due(today=D).as_dict() == {"handed_over": 1}
    assert Task.objects.get(key=f"comm:{first.pk}").kind == "letter"

    letters = channel_module("letter")
    later = D + dt.timedelta(days=1)
    second = communication(dupont, [invoice(dupont, "F2", due=D - dt.timedelta(days=40))],
                           on=later, channel="letter", template="registered_letter")  # fmt: skip
    assert outbox.send_due(today=later).as_dict() == {"sent": 1}
    assert letters.SENT == ["registered_letter: F2"]
    assert not Task.objects.filter(key=f"comm:{second.pk}").exists()


def test_it_keeps_every_channel_out_of_the_outbox():
    tree = ast.parse(inspect.getsource(outbox))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert not {"relance.channels.email", "relance.channels.smtp"} & imported
    assert registry.get("email") is not None  # e-mail registers itself, as any channel
