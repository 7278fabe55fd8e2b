"""The audit trail: every action a person or a command takes writes one event (who, in
which organisation, on what, with what), listed per organisation by `relance audit list`,
and never changed nor deleted."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import commands
import factories as f
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.db.models import Max

from relance.accounts.services import add_member
from relance.audit import trail
from relance.audit.models import AppendOnly, AuditEvent
from relance.dunning import approval, pauses
from relance.dunning.models import CommStatus, Task
from relance.dunning.scenarios_io import export_yaml
from relance.ledger.timeline import KEPT

pytestmark = pytest.mark.django_db

D = dt.date(2026, 11, 23)  # a Monday
PARIS = ZoneInfo("Europe/Paris")
CLI = trail.command_actor()


def mark() -> int:
    return AuditEvent.objects.aggregate(last=Max("pk"))["last"] or 0


def since(last: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(pk__gt=last).order_by("pk"))


def facts(event: AuditEvent) -> dict:
    """The event's data without its summary's text kept for the readers (timeline.KEPT)."""
    return {k: v for k, v in event.data.items() if k != KEPT}


def one(last: int, action: str) -> AuditEvent:
    """The one event written since ``last``; it must be ``action``."""
    events = since(last)
    assert [e.action for e in events] == [action]
    return events[0]


def run_command(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def raw(sql: str, params: list[object] | None = None) -> None:
    """SQL straight to the database, past the model's guard."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def audit_list(*args: str) -> dict:
    return json.loads(run_command("audit", "list", "--json", *args))


@pytest.fixture
def ledger(org):
    customer = f.customer(org, "C-1", legal_name="Durand SARL")
    first = f.invoice(customer, "F-1", due=D - f.days(40), amount="1200.00")
    second = f.invoice(customer, "F-2", due=D - f.days(10), amount="300.00")
    return customer, first, second


# --- each action writes one event -------------------------------------------------------


def test_it_records_an_approval_and_a_skip_from_the_outbox_command(org, ledger):
    customer, first, second = ledger
    waiting = [
        f.communication(customer, [inv], on=D - f.days(n), template="formal_notice",
                        status=CommStatus.AWAITING_APPROVAL)
        for n, inv in enumerate((first, second))
    ]  # fmt: skip
    last = mark()
    run_command("outbox", "approve", str(waiting[0].pk), "--note", "signed")
    approved = one(last, "communication.approved")
    assert (approved.organisation_id, approved.actor, approved.user_id) == (org.pk, CLI, None)
    assert (approved.object_type, approved.object_id) == ("communication", str(waiting[0].pk))
    assert facts(approved) == {"communications": [waiting[0].pk], "note": "signed"}
    last = mark()
    run_command("outbox", "skip", str(waiting[1].pk))
    skipped = one(last, "communication.skipped")
    assert skipped.object_id == str(waiting[1].pk) and "formal_notice" in skipped.summary
    # Refused (not awaiting any more): nothing happened, nothing is recorded.
    last = mark()
    with pytest.raises(CommandError):
        run_command("outbox", "approve", str(waiting[1].pk))
    assert since(last) == []


def test_it_names_the_user_the_service_is_given(org, owner, ledger):
    customer, first, _ = ledger
    comm = f.communication(customer, [first], on=D, status=CommStatus.AWAITING_APPROVAL)
    last = mark()
    approval.decide(org, [comm.pk], approve=True, user_id=owner.pk)
    event = one(last, "communication.approved")
    assert (event.actor, event.user_id) == ("alice@acme.test", owner.pk)


def test_it_records_a_scenario_import_with_what_changed(org, tmp_path):
    path = tmp_path / "scenarios.yaml"
    path.write_text(export_yaml(org), encoding="utf-8")
    last = mark()
    run_command("scenario", "import", str(path))
    assert since(last) == []  # the same scenarios: nothing changed, nothing to record
    path.write_text(export_yaml(org).replace("offset: 30", "offset: 31", 1), encoding="utf-8")
    run_command("scenario", "import", str(path), "--dry-run")
    assert since(last) == []
    run_command("scenario", "import", str(path))
    event = one(last, "scenario.imported")
    assert (event.actor, event.object_type, event.object_id) == (
        CLI, "scenario_file", "scenarios.yaml",
    )  # fmt: skip
    assert event.data["counts"]["updated"] == 1 and event.data["file"] == "scenarios.yaml"
    assert any("steps" in change or "step" in change for change in event.data["changes"])


def test_it_records_the_default_scenarios_installed(org):
    from relance.dunning.models import Scenario

    Scenario.objects.filter(organisation=org, slug="standard").delete()
    last = mark()
    run_command("scenario", "install-defaults")
    event = one(last, "scenario.defaults_installed")
    assert facts(event) == {"scenarios": ["standard"], "rules": False}
    run_command("scenario", "install-defaults")
    assert len(since(last)) == 1  # all were there: nothing done, nothing recorded


def test_it_records_a_ledger_import_with_its_file_fingerprint_and_counts(org, tmp_path):
    path = tmp_path / "open-items.csv"
    path.write_text(
        "customer.reference;customer.legal_name;invoice.number;invoice.issue_date;"
        "invoice.due_date;invoice.amount\n"
        "C-1;Durand SARL;F-1;01/10/2026;31/10/2026;1200,00\n"
        "C-2;Martin SA;F-2;05/10/2026;04/11/2026;300,00\n",
        encoding="utf-8",
    )
    last = mark()
    run_command("import", str(path), "--dry-run")
    assert since(last) == []  # a dry run writes nothing, in the trail neither
    run_command("import", str(path))
    event = one(last, "import.applied")
    assert event.actor == CLI and event.object_type == "importrun"
    assert event.data["file"] == "open-items.csv" and event.data["format"] == "csv"
    assert event.data["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert event.data["rows"] == 2
    assert event.data["counts"]["invoices_created"] == 2
    assert event.data["counts"]["customers_created"] == 2
    last = mark()
    run_command("import", str(path))
    assert one(last, "import.applied").data["counts"]["invoices_unchanged"] == 2
    path.write_text(path.read_text().replace("1200,00", "douze"), encoding="utf-8")
    last = mark()
    with pytest.raises(CommandError):
        run_command("import", str(path))
    refused = one(last, "import.refused")
    assert "row 2" in refused.data["error"] and refused.data["file"] == "open-items.csv"


@pytest.mark.usefixtures("ledger")
def test_it_records_disputes_promises_holds_and_plans_from_the_commands(org):
    day = ["--date", D.isoformat()]
    steps = [
        (["dispute", "open", "F-1", "--reason", "quality", *day], "dispute.opened", "dispute"),
        (["dispute", "resolve", "F-1", "--resolution", "credit note", *day],
         "dispute.resolved", "dispute"),
        (["promise", "add", "C-1", "--on", "2026-12-01", "--invoice", "F-2", "--amount", "300"],
         "promise.added", "promise"),
        (["hold", "add", "C-1", "--kind", "negotiation", "--from", D.isoformat()],
         "hold.placed", "hold"),
        (["hold", "release", "C-1", "--on", "2026-11-30"], "hold.released", "hold"),
        (["plan", "create", "C-1", "--invoice", "F-1", "--instalment", "2026-12-15:600",
          "2027-01-15:600", *day], "plan.created", "paymentplan"),
    ]  # fmt: skip
    for args, action, kind in steps:
        last = mark()
        run_command(*args)
        event = one(last, action)
        assert (event.organisation_id, event.actor, event.object_type) == (org.pk, CLI, kind)
        assert event.data["customer"] == "C-1", action
    promise = AuditEvent.objects.get(action="promise.added")
    assert promise.data["amount"] == "300.00" and promise.data["promised_on"] == "2026-12-01"
    plan = AuditEvent.objects.get(action="plan.created")
    assert plan.data["instalments"] == [
        {"due_date": "2026-12-15", "amount": "600.00"},
        {"due_date": "2027-01-15", "amount": "600.00"},
    ]
    assert plan.data["total"] == "1200.00" and plan.data["invoices"] == ["F-1"]


def test_it_records_the_user_of_a_pause(org, owner, ledger):
    _, first, _ = ledger
    last = mark()
    dispute = pauses.open_dispute(first, reason="price", on=D, user_id=owner.pk)
    event = one(last, "dispute.opened")
    assert (event.actor, event.user_id, event.object_id) == (
        "alice@acme.test", owner.pk, str(dispute.pk),
    )  # fmt: skip


def test_it_records_the_settings_changed_with_old_and_new_values(org):
    last = mark()
    run_command("org", "set", "--email", "relance@acme.test", "--phone", "04 72 00 00 00")
    event = one(last, "organisation.settings_changed")
    assert facts(event) == {
        "changes": {
            "email": {"old": "compta@acme.test", "new": "relance@acme.test"},
            "phone": {"old": "", "new": "04 72 00 00 00"},
        }
    }
    assert (event.object_type, event.object_id, event.actor) == ("organisation", str(org.pk), CLI)
    last = mark()
    run_command("org", "set", "--email", "relance@acme.test")  # the same: nothing changed
    with pytest.raises(CommandError):
        run_command("org", "set", "--email", "not an address", "--phone", "01 02 03 04 05")
    assert since(last) == []


def test_it_records_organisations_and_members_created_without_the_password(db, monkeypatch):
    last = mark()
    run_command("createorg", "acme", "--name", "Acme SAS", "--currency", "EUR")
    created = since(last)
    assert [e.action for e in created] == ["organisation.created", "scenario.defaults_installed"]
    assert created[0].data["slug"] == "acme" and created[0].actor == CLI
    monkeypatch.setenv("RELANCE_PASSWORD", "a-long-enough-secret")
    last = mark()
    run_command("createuser", "bob@acme.test", "--role", "collector")
    member = one(last, "member.added")
    assert facts(member) == {
        "user": "bob@acme.test", "role": "collector", "previous_role": None,
        "user_created": True, "password_set": True,
    }  # fmt: skip
    assert member.object_type == "user" and "a-long-enough-secret" not in json.dumps(
        [e.data for e in AuditEvent.objects.all()]
    )
    last = mark()
    run_command("createuser", "bob@acme.test", "--role", "collector")  # nothing changes
    assert since(last) == []
    run_command("createuser", "bob@acme.test", "--role", "manager")
    changed = one(last, "member.changed")
    assert (changed.data["previous_role"], changed.data["role"]) == ("collector", "manager")
    assert changed.data["password_set"] is False


def test_it_records_one_event_per_run_with_its_counts(org):
    f.scenario(org)
    for n in range(30):
        f.invoice(f.customer(org), due=D - f.days(n % 20), amount=100 + n)
    last = mark()
    run_command("run", "--date", D.isoformat(), "--dry-run", "--json")
    assert since(last) == []
    result = json.loads(run_command("run", "--date", D.isoformat(), "--json"))["runs"][0]
    event = one(last, "run.completed")
    assert (event.object_type, event.object_id, event.actor) == ("run", D.isoformat(), CLI)
    assert event.data["counts"] == result["counts"] and sum(result["counts"].values()) > 0
    assert event.data["customers"] == result["customers"] == 30


def test_it_records_the_tasks_closed(org, ledger):
    customer, _, _ = ledger
    made = [
        Task.objects.create(organisation=org, customer=customer, kind="call", title=f"Call {n}",
                            due_on=D, key=f"call:{n}")
        for n in (1, 2)
    ]  # fmt: skip
    last = mark()
    run_command("tasks", "done", str(made[0].pk), str(made[1].pk), "--note", "promised")
    event = one(last, "task.done")
    assert event.data["tasks"] == {str(made[0].pk): "promised", str(made[1].pk): "promised"}
    assert event.actor == CLI and "Call 1" in event.summary


# --- reading it --------------------------------------------------------------------------


def test_it_lists_only_the_organisations_own_events(org, other_org):
    trail.record(org, "test.mine", summary="acme's")
    trail.record(other_org, "test.theirs", summary="globex's")
    trail.record(None, "signin.failed", actor="nobody@example.test")
    listed = audit_list("--org", "acme", "--limit", "1000")
    assert listed["organisation"] == "acme"
    assert {e["action"] for e in listed["events"]} >= {"test.mine", "organisation.created"}
    own = set(AuditEvent.objects.filter(organisation=org).values_list("pk", flat=True))
    assert {e["id"] for e in listed["events"]} == own
    text = run_command("audit", "list", "--org", "globex")
    assert "test.theirs" in text and "test.mine" not in text and "nobody" not in text


def test_it_prints_one_json_document_with_iso_timestamps(org, owner, time_machine):
    time_machine.move_to(datetime(2026, 11, 23, 9, 30, tzinfo=PARIS), tick=False)
    trail.record(org, "dispute.opened", user=owner, target=("dispute", 7), summary="x",
                 data={"amount": f.money("12.50"), "on": D})  # fmt: skip
    listed = audit_list("--action", "dispute")
    assert listed["more"] is False
    [event] = listed["events"]
    assert event == {
        "id": event["id"], "at": "2026-11-23T08:30:00+00:00", "actor": "alice@acme.test",
        "user": "alice@acme.test", "action": "dispute.opened",
        "target": {"type": "dispute", "id": "7"}, "summary": "x",
        "data": {"amount": "12.50", "on": "2026-11-23"}, "ip": None,
    }  # fmt: skip
    assert datetime.fromisoformat(event["at"]) == datetime(2026, 11, 23, 9, 30, tzinfo=PARIS)
    table = run_command("audit", "list", "--action", "dispute")
    assert "2026-11-23 09:30:00" in table and "dispute 7" in table  # the organisation's time


def test_it_filters_by_day_action_actor_and_limit(db, time_machine):
    time_machine.move_to(datetime(2026, 10, 1, 12, tzinfo=PARIS), tick=False)
    org = f.organisation("acme")  # its creation, a month before
    for day, action, actor in [
        (dt.date(2026, 11, 1), "hold.placed", "cli:ops"),
        (dt.date(2026, 11, 2), "hold.released", "alice@acme.test"),
        (dt.date(2026, 11, 3), "dispute.opened", "cli:ops"),
    ]:
        # 23:30 in Paris: the next day in UTC, still this day for the organisation.
        time_machine.move_to(datetime.combine(day, dt.time(23, 30), PARIS), tick=False)
        trail.record(org, action, actor=actor)

    def actions(*args: str) -> list[str]:
        return [e["action"] for e in audit_list(*args)["events"]]

    assert actions("--since", "2026-11-02", "--until", "2026-11-02") == ["hold.released"]
    assert actions("--since", "2026-11-02") == ["dispute.opened", "hold.released"]
    assert actions("--action", "hold") == ["hold.released", "hold.placed"]
    assert actions("--action", "hold.placed") == ["hold.placed"]
    assert actions("--actor", "OPS") == ["dispute.opened", "hold.placed"]
    assert actions("--until", "2026-10-31") == ["scenario.defaults_installed",
                                                "organisation.created"]  # fmt: skip
    limited = audit_list("--limit", "2")
    assert [e["action"] for e in limited["events"]] == ["dispute.opened", "hold.released"]
    assert limited["more"] is True


def test_it_refuses_bad_usage_with_status_2():
    relance = commands.in_process
    assert relance("createorg", "acme", "--name", "Acme SAS").returncode == 0
    listed = relance("audit", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["events"][-1]["action"] == "organisation.created"
    for bad in (["--limit", "0"], ["--since", "yesterday"],
                ["--since", "2026-12-01", "--until", "2026-11-01"]):  # fmt: skip
        out = relance("audit", "list", *bad)
        assert out.returncode == 2, (bad, out.stderr)
        assert "Traceback" not in out.stderr and out.stdout == ""
    unknown = relance("audit", "list", "--org", "nope")
    assert unknown.returncode == 1 and "nope" in unknown.stderr


def test_it_shows_the_trail_in_the_admin_to_read_only(client, org):
    event = trail.record(org, "hold.placed", actor="cli:ops", summary="manual hold on C-1")
    admin = get_user_model().objects.create_superuser("root@acme.test", "root@acme.test", "pw")
    client.force_login(admin)
    listing = client.get("/admin/audit/auditevent/")
    assert listing.status_code == 200 and "manual hold on C-1" in listing.content.decode()
    detail = client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert client.post(f"/admin/audit/auditevent/{event.pk}/change/",
                       {"summary": "forged"}).status_code == 403  # fmt: skip
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/",
                       {"post": "yes"}).status_code == 403  # fmt: skip
    assert AuditEvent.objects.get(pk=event.pk).summary == "manual hold on C-1"


# --- append-only -------------------------------------------------------------------------


def test_it_refuses_in_the_database_to_change_an_event(org):
    event = trail.record(org, "hold.placed", summary="as it happened")
    table = AuditEvent._meta.db_table
    for sql in (f"UPDATE {table} SET summary = 'forged' WHERE id = %s",
                f"UPDATE {table} SET organisation_id = NULL WHERE id = %s"):  # fmt: skip
        with pytest.raises(IntegrityError, match="append-only"):
            raw(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).summary == "as it happened"


def test_it_refuses_to_delete_an_event(org):
    event = trail.record(org, "hold.placed", summary="as it happened")
    with pytest.raises(AppendOnly):
        AuditEvent.objects.filter(organisation=org).delete()
    if connection.vendor == "postgresql":  # SQLite: see the migration, flushes use DELETE
        with pytest.raises(IntegrityError, match="append-only"):
            raw(f"DELETE FROM {AuditEvent._meta.db_table}")
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_it_keeps_the_event_when_its_user_is_deleted(org):
    user = add_member(org, "carol@acme.test", "collector", password="a-long-enough-secret")
    event = trail.record(org, "hold.placed", user=user)
    user.delete()
    kept = AuditEvent.objects.get(pk=event.pk)
    assert (kept.user_id, kept.actor, kept.action) == (None, "carol@acme.test", "hold.placed")
    other = add_member(org, "dave@acme.test", "collector", password="a-long-enough-secret")
    with pytest.raises(IntegrityError, match="append-only"):  # pinned on someone else
        raw(f"UPDATE {AuditEvent._meta.db_table} SET user_id = %s WHERE id = %s",
            [other.pk, event.pk])  # fmt: skip


def test_it_keeps_the_trail_of_a_deleted_organisation(client, org):
    event = trail.record(org, "hold.placed", summary="manual hold on C-1")
    former = org.pk
    org.delete()
    kept = AuditEvent.objects.get(pk=event.pk)
    assert (kept.organisation_id, kept.summary) == (former, "manual hold on C-1")
    admin = get_user_model().objects.create_superuser("root@acme.test", "root@acme.test", "pw")
    client.force_login(admin)
    for page in ("/admin/audit/auditevent/", f"/admin/audit/auditevent/{event.pk}/change/"):
        shown = client.get(page)
        assert shown.status_code == 200 and f"#{former} (deleted)" in shown.content.decode()


def test_it_lets_the_whole_database_be_flushed(transactional_db):
    """What the test suite does between transactional tests (DELETE on SQLite, TRUNCATE on
    PostgreSQL) and `relance flush` still works."""
    organisation = f.organisation("acme")
    trail.record(organisation, "hold.placed")
    call_command("flush", interactive=False, verbosity=0)
    assert not AuditEvent.objects.exists()


def test_it_writes_no_secret_given_in_data(org):
    event = trail.record(org, "member.changed",
                         data={"password": "hunter2", "nested": {"api_token": "t0k"},
                               "password_set": True})  # fmt: skip
    stored = AuditEvent.objects.get(pk=event.pk).data
    assert stored == {"password": trail.REDACTED, "nested": {"api_token": trail.REDACTED},
                      "password_set": True}  # fmt: skip
