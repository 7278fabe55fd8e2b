"""The channels Relance can send through, keyed by channel (``StepChannel`` values).

A channel is one module that builds a communication's message and provides the transport
that delivers it, and registers both here when it is imported::

    registry.register(StepChannel.SMS, build=build_sms, transport=SmsTransport)

The modules are those named by the ``RELANCE_CHANNELS`` setting (default: e-mail), imported
on the registry's first use. The outbox asks this registry for a communication's channel
and knows nothing of any of them: an SMS or a letter channel is a new module and a line in
the setting, not an edit of the outbox. A channel with nothing registered is handed to a person
as a task when a person can carry it out (calls, letters until one is registered), and
fails with a task otherwise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from importlib import import_module
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from relance.channels.base import Outgoing, Transport

if TYPE_CHECKING:
    from relance.dunning.batch import Facts
    from relance.dunning.models import Communication, CommunicationItem

# Builds the message of a communication listing the items kept at send time; raises
# ``base.NoRecipient`` when the customer has no usable address on the channel.
Builder = Callable[["Communication", Sequence["CommunicationItem"], date, "Facts"], Outgoing]

DEFAULT_MODULES = ("relance.channels.email", "relance.channels.sms", "relance.documents.channel")


@dataclass(frozen=True)
class Channel:
    name: str
    build: Builder
    transport: Callable[[], Transport]  # one per batch of messages


_channels: dict[str, Channel] = {}
_loaded = False
_loading = False
_lock = threading.RLock()  # the modules it imports register themselves through it


def register(name: str, *, build: Builder, transport: Callable[[], Transport]) -> Channel:
    """Make ``name`` sendable (a later registration of the same name replaces it)."""
    load()  # the modules' own registrations come first, as when they loaded at start-up
    channel = Channel(str(name), build, transport)
    _channels[channel.name] = channel
    return channel


def unregister(name: str) -> None:
    load()
    _channels.pop(str(name), None)


def get(name: str) -> Channel | None:
    """The channel registered as ``name``, or None: nothing sends it."""
    load()
    return _channels.get(str(name))


def names() -> list[str]:
    load()
    return sorted(_channels)


def load() -> None:
    """Import the channel modules of ``RELANCE_CHANNELS`` once (they register themselves),
    on the registry's first use: a command that sends nothing starts without them."""
    global _loaded, _loading
    if _loaded:
        return
    with _lock:
        if _loaded or _loading:  # loaded meanwhile, or a module registering itself
            return
        _loading = True
        try:
            for module in getattr(settings, "RELANCE_CHANNELS", DEFAULT_MODULES):
                import_module(module)
            _loaded = True
        finally:
            _loading = False


@receiver(setting_changed)
def _channels_changed(*, setting: str, **kwargs: Any) -> None:
    # Tests and installs that change the setting get the modules it names imported.
    global _loaded
    if setting == "RELANCE_CHANNELS":
        _loaded = False
        load()
