"""The payment provider behind "Pay online", when installed (``relance.checkout``): the
portal only asks whether it is available and where to send the debtor."""

from __future__ import annotations

import importlib
from types import ModuleType


def provider() -> ModuleType | None:
    """``relance.checkout.service``, or None while that module does not exist."""
    try:
        return importlib.import_module("relance.checkout.service")
    except ImportError:
        return None
