"""Departures as data: every record probed on the installed release, switched in ours, audited."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from snnbench import audit, departures, env, implementations, specs
from snnbench.cli import app
from snnbench.departures import measures, probes
from equivalence import judge

RECORDS = departures.records()


def _unequal_sizes_case():
    """The smallest standard SLSTM case whose input and hidden sizes differ (where snntorch zeroes the
    state every step): x48-h32-subtract, not the 784 x 1000 one, which is judged in the slow run."""
    unequal = [c for c in specs.standard_cases("slstm") if c.params["input_size"] != c.params["hidden_size"]]
    return min(unequal, key=lambda c: c.params["input_size"] * c.params["hidden_size"])


def test_every_record_is_complete_and_probed():
    assert len(RECORDS) >= 40
    cases = audit.audit_cases()
    for record in RECORDS.values():
        assert record.summary and record.documented and record.actual and record.source and record.detection
        assert set(record.neurons) <= set(specs.names()), record.id
        assert record.id in probes.PROBES, record.id
        if record.documented_switch:
            assert record.id in cases, f"{record.id}: a switch needs a case where it matters"
    assert set(cases) <= set(RECORDS)


def test_probes_agree_with_the_releases_the_records_name():
    """The records say where each departure was found; the probe on the installed release agrees."""
    for record in RECORDS.values():
        installed = env.version_of(record.library)
        found = departures.holds(record.id)
        assert found in (True, False, None), record.id
        if installed in record.holds_in:
            assert found is True, record.id
        elif installed in record.absent_in:
            assert found is None, record.id


def test_findings_come_from_the_records():
    case = _unequal_sizes_case()
    record = judge(case, "float32")
    assert any(f.startswith("slstm-state-zeroing: ") for f in record["findings"])


def test_ours_follows_a_release_that_does_not_show_a_departure(monkeypatch):
    """Where the installed reference does not zero the state (snntorch 0.7.0, say), ours carries it."""
    native = implementations.native("slstm")
    assert "slstm-state-zeroing" not in native.switches()
    monkeypatch.setattr(departures, "holds", lambda i: False if i == "slstm-state-zeroing" else True)
    assert "slstm-state-zeroing" in native.switches()
    case = _unequal_sizes_case()
    ref = implementations.reference("slstm")
    module = native.build(case, torch.float64, "cpu", ref.weights(ref.build(case, torch.float64, "cpu")))
    x = torch.rand(3, case.batch, case.params["input_size"], dtype=torch.float64)
    carried = native.run(module, x, specs.get("slstm").initial_state(case, torch.float64, "cpu"))
    zeroed = implementations.native("slstm").documented_variant(set())
    monkeypatch.setattr(departures, "holds", lambda i: True)
    module = zeroed.build(case, torch.float64, "cpu", ref.weights(ref.build(case, torch.float64, "cpu")))
    plain = zeroed.run(module, x, specs.get("slstm").initial_state(case, torch.float64, "cpu"))
    assert not torch.allclose(carried["mem"][1:], plain["mem"][1:])


@pytest.mark.parametrize("departure_id", [d.id for d in RECORDS.values() if d.documented_switch])
def test_every_switch_changes_what_ours_computes_on_its_case(departure_id):
    """Ours with the documented behaviour differs from the reference where the departure matters
    (forward or gradients), and ours without it still equals the reference there."""
    case = specs.check(audit.audit_cases()[departure_id])
    native = implementations.native(case.neuron)
    documented = judge(case, "float32", native.documented_variant({departure_id}))
    # a flip exactly at the threshold (atan-strict-heaviside) is within the borderline rule: the
    # spike rates show it
    differs = documented["verdict"] == "fail" or documented["judged_spike_rate"] != documented["spike_rate"]
    assert differs, (departure_id, documented["reason"])
    assert judge(case, "float32")["verdict"] == "pass"


def test_measures_give_numbers():
    for departure_id in measures.MEASURES:
        result = measures.measure(departure_id)
        assert isinstance(result["value"], (int, float)) and result["summary"], departure_id


def test_audit_of_one_neuron_through_the_cli(tmp_path):
    out, md = tmp_path / "a.json", tmp_path / "a.md"
    result = CliRunner().invoke(app, ["audit", "slstm", "--json", str(out), "--markdown", str(md)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["kind"] == "audit"
    by_id = {r["departure"]: r for r in report["results"]}
    zeroing = by_id["slstm-state-zeroing"]
    assert zeroing["holds"] is True and zeroing["case"] == "slstm-state-zeroing"
    assert zeroing["effect"]["first_divergent_step"] is not None and zeroing["effect"]["fields"]["mem"] > 0
    slope = by_id["atan-slope"]
    assert slope["effect"]["first_divergent_step"] is None and max(slope["effect"]["fields"].values()) < 1e-12
    assert max(slope["effect"]["gradients"].values()) > 0.1        # the gradients alone
    assert "| slstm-state-zeroing | slstm |" in md.read_text()


@pytest.mark.slow
def test_audit_all_measures_at_least_twelve_departures(tmp_path):
    out = tmp_path / "a.json"
    result = CliRunner().invoke(app, ["audit", "all", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert audit.measured(report) >= 12
    by_id = {r["departure"]: r for r in report["results"]}
    for departure_id in ("atan-slope", "slstm-state-zeroing", "leakyparallel-per-neuron-beta"):
        effect = by_id[departure_id]["effect"]
        assert effect["verdict"] == "fail" and (effect["fields"] or effect["gradients"]), departure_id
    assert {r["neuron"] for r in report["results"] if r["method"].startswith("ours")} == set(specs.names())


def test_a_neuron_the_release_lacks_is_one_line_when_named(monkeypatch):
    spec = specs.get("leakyparallel")
    monkeypatch.setattr(type(spec), "unavailable", lambda self: "snntorch 0.7.0 has no snntorch.LeakyParallel")
    result = CliRunner().invoke(app, ["compare", "leakyparallel"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "has no snntorch.LeakyParallel" in result.output
