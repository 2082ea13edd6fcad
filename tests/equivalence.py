"""The check every neuron's standard cases must pass against their reference."""


def assert_equivalent(record: dict) -> None:
    """Pass, or skipped because the reference cannot run the dtype; informative; gradients compared,
    unless the reference's backward crashes through a known bug on CUDA, which a finding states."""
    assert record["verdict"] in ("pass", "skipped"), record["reason"]
    if record["verdict"] == "skipped":
        assert "reference cannot run" in record["reason"]
        return
    assert 0 < record["spike_rate"] < 1
    if record["reason"].startswith("forward only: "):
        why = record["reason"].removeprefix("forward only: ").split("; ")[0]
        assert record["device"].startswith("cuda") and why in record["findings"]
        assert not record["backward"]
    else:
        assert record["backward"], "gradients were compared"
