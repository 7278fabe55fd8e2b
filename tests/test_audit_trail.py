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
