import pytest

from relance.audit import trail
from relance.audit.models import AppendOnly, AuditEvent

pytestmark = pytest.mark.django_db


def test_it_records_who_did_what_in_which_organisation(org, owner):
    event = trail.record(org, "scenario.edited", user=owner, target=("scenario", 7), summary="x")
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.organisation_id, stored.actor, stored.action) == (
        org.pk,
        owner.get_username(),
        "scenario.edited",
    )
    assert (stored.object_type, stored.object_id) == ("scenario", "7")


def test_it_never_changes_nor_deletes_an_event(org):
    event = trail.record(org, "import.applied", summary="file.csv")
    assert event.actor.startswith("cli")
    with pytest.raises(AppendOnly):
        event.save()
    with pytest.raises(AppendOnly):
        event.delete()
    with pytest.raises(AppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(summary="changed")
    with pytest.raises(AppendOnly):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).summary == "file.csv"


def test_it_redacts_a_secret_in_a_summarys_values_as_in_its_data(org):
    """A value under a key that names a secret is redacted in the English summary written
    and in the text kept to say it again in the reader's language."""
    from relance.ledger.timeline import KEPT, Text

    text = Text("new secret %(secret)s for %(url)s",
                {"secret": "whsec_1234", "url": "https://x.test"})  # fmt: skip
    event = trail.record(org, "webhooks.secret_rotated", summary=text,
                         data={"secret": "whsec_data"})  # fmt: skip
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.summary == "new secret [redacted] for https://x.test"
    assert stored.data[KEPT]["values"] == {"secret": "[redacted]", "url": "https://x.test"}
    assert stored.data["secret"] == "[redacted]" and "whsec" not in str(stored.data)
