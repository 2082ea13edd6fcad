"""The errors snnbench turns into one-line messages and exit codes."""


MESSAGE_MAX = 300


class SnnbenchError(Exception):
    """A usage or configuration error: one line for the user, exit code 2."""

    exit_code = 2


class CaseError(SnnbenchError):
    """A case file or case that cannot be used, named by file, case and key."""

    def __init__(self, source: str, case: str | None, key: str | None, message: str):
        if len(message) > MESSAGE_MAX:      # a value quoted in full could fill a screen
            message = message[:MESSAGE_MAX] + f"... ({len(message)} characters)"
        where = source
        if case:
            where += f": case '{case}'"
        if key:
            where += f": key '{key}'"
        super().__init__(f"{where}: {message}")


class ReportError(SnnbenchError):
    """A report that is missing, malformed, or of a schema this version cannot read."""


class Unsupported(Exception):
    """A case the comparison cannot run as asked (verdict 'skipped', with this reason).

    Raised for options our implementation does not cover yet, and for dtypes or options the
    reference itself cannot run (then the message carries the reference's own error).
    """
