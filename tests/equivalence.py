"""The check every neuron's standard cases must pass against their reference."""


def assert_equivalent(record: dict) -> None:
    """Pass, or skipped because the reference cannot run the dtype; informative; gradients compared."""
    assert record["verdict"] in ("pass", "skipped"), record["reason"]
    if record["verdict"] == "skipped":
        assert "reference cannot run" in record["reason"]
    else:
        assert 0 < record["spike_rate"] < 1
        assert record["backward"], "gradients were compared"
