"""French status labels agree with the noun they qualify: a label shared by several things
("Done", "Failed", "Cancelled") has a context (``pgettext``) per thing, so that a task is
"Terminée" and a run "Terminé"."""

from __future__ import annotations

import pytest
from django.utils import translation

from relance.bank.models import LineStatus
from relance.channels.models import RegisteredStatus
from relance.console.customers import KIND_LABELS
from relance.dunning.models import CommStatus, PaymentPlan, Promise, QueuedRun, Task
from relance.hooks.models import Delivery
from relance.ledger.models import ImportRun


@pytest.mark.parametrize(
    ("label", "french", "english"),
    [
        # Feminine: une tâche, une relance, une promesse, une lettre, une ligne bancaire.
        (Task.Status.DONE.label, "Terminée", "Done"),
        (Task.Status.CANCELLED.label, "Annulée", "Cancelled"),
        (CommStatus.SENT.label, "Envoyée", "Sent"),
        (CommStatus.FAILED.label, "Échouée", "Failed"),
        (CommStatus.CANCELLED.label, "Annulée", "Cancelled"),
        (KIND_LABELS["communication_failed"], "Échouée", "Failed"),
        (KIND_LABELS["communication_handed_over"], "Transmise", "Handed over"),
        (Promise.Status.CANCELLED.label, "Annulée", "Cancelled"),
        (RegisteredStatus.FAILED.label, "Échouée", "Failed"),
        (LineStatus.MATCHED.label, "Rapprochée", "Matched"),
        # Masculine: un traitement, un import, un échéancier, un envoi.
        (QueuedRun.Status.DONE.label, "Terminé", "Done"),
        (ImportRun.Status.FAILED.label, "Échoué", "Failed"),
        (PaymentPlan.Status.CANCELLED.label, "Annulé", "Cancelled"),
        (Delivery.Status.FAILED.label, "Échoué", "Failed"),
    ],
)
def test_a_status_label_agrees_with_what_it_qualifies(label, french, english):
    with translation.override("fr"):
        assert str(label) == french
    with translation.override("en"):
        assert str(label) == english
