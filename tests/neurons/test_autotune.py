"""The measured choice between exact fast paths: pins, errors, one timing per key, the fastest kept."""

import time

import pytest
import torch

from snnbench.errors import SnnbenchError
from snnbench.neurons.fused import alif, autotune, sconv2dlstm  # noqa: F401  (defines the choices)


def sleeper(seconds: dict[str, float], calls: dict[str, int]):
    """trial(candidate) -> a callable that sleeps that candidate's time and counts its calls."""
    def trial(candidate):
        def run():
            calls[candidate] = calls.get(candidate, 0) + 1
            time.sleep(seconds[candidate])
        return run
    return trial


@pytest.fixture
def choice(monkeypatch):
    c = autotune.PathChoice("TEST_ONLY_CHOICE", ("slow", "fast", "middle"))
    monkeypatch.delenv(c.env_var, raising=False)
    yield c
    autotune._CHOICES.pop(c.name, None)


def test_the_fastest_is_chosen_and_timed_once_per_key(choice):
    calls = {}
    trial = sleeper({"slow": 0.004, "fast": 0.0, "middle": 0.002}, calls)
    assert choice.choose(("shape", 1), trial) == "fast"
    timed = dict(calls)
    assert set(timed) == {"slow", "fast", "middle"}
    assert choice.choose(("shape", 1), trial) == "fast"
    assert calls == timed                                   # kept: not timed again
    assert choice.choose(("shape", 2), trial) == "fast"     # another key: timed again
    assert calls["fast"] == 2 * timed["fast"]
    assert choice.timings[(("shape", 1), torch.get_num_threads())]["slow"] >= 0.004


def test_the_thread_count_is_part_of_the_key(choice):
    calls = {}
    trial = sleeper({"slow": 0.0, "fast": 0.0, "middle": 0.0}, calls)
    before = torch.get_num_threads()
    choice.choose("k", trial)
    try:
        torch.set_num_threads(1 if before != 1 else 2)
        choice.choose("k", trial)
    finally:
        torch.set_num_threads(before)
    assert len(choice.winners) == 2


def test_a_pin_is_honoured_without_timing(choice, monkeypatch):
    calls = {}
    monkeypatch.setenv(choice.env_var, "slow")
    assert choice.choose("k", sleeper({"slow": 0.0, "fast": 0.0, "middle": 0.0}, calls)) == "slow"
    assert calls == {} and choice.winners == {}
    # a pin applies even where the caller narrows the field (the caller allows only correct ones)
    assert choice.choose("k", lambda c: (lambda: None), candidates=("fast",)) == "slow"


@pytest.mark.parametrize("value", ["fastest", "Slow", "slow,fast"])
def test_an_unknown_pin_is_a_clear_error(choice, monkeypatch, value):
    monkeypatch.setenv(choice.env_var, value)
    with pytest.raises(SnnbenchError) as err:
        choice.choose("k", lambda c: (lambda: None))
    message = str(err.value)
    assert choice.env_var in message and repr(value) in message
    for candidate in choice.candidates:
        assert candidate in message


def test_an_empty_pin_means_unpinned(choice, monkeypatch):
    monkeypatch.setenv(choice.env_var, "")
    assert choice.pinned() is None


def test_one_candidate_is_not_timed(choice):
    calls = {}
    assert choice.choose("k", sleeper({"middle": 0.0}, calls), candidates=("middle",)) == "middle"
    assert calls == {}


def test_the_neurons_choices_are_registered_with_their_candidates():
    found = autotune.choices()
    assert found["SCONV2DLSTM_GATES"].candidates == ("gate_major", "conv_order", "conv_halves")
    assert found["SCONV2DLSTM_INPUT_GRAD"].candidates == ("joint", "padded", "split")
    assert found["ALIF_BACKWARD_CHUNK"].candidates[0] == "whole"
    for c in found.values():
        assert c.env_var == "SNNBENCH_PATH_" + c.name and c.description


def test_a_neuron_path_with_an_unknown_pin_fails_clearly(monkeypatch):
    from snnbench.neurons.sconv2dlstm import SConv2dLSTM
    monkeypatch.setenv("SNNBENCH_PATH_SCONV2DLSTM_GATES", "nchw")
    m = SConv2dLSTM(2, 3, 3)
    with pytest.raises(SnnbenchError, match="SNNBENCH_PATH_SCONV2DLSTM_GATES=.nchw..*gate_major, conv_order, conv_halves"):
        m.sequence(torch.zeros(2, 1, 2, 4, 4))
