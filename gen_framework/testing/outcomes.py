"""What a conformance check raises besides ``AssertionError``; its own module so checks and the kit that runs
them both import it without importing each other."""


class CheckSkipped(Exception):
    """Raised by a check that has nothing to check for this plugin; the message says why.

    The kit reports it as ``skipped`` with that reason (a pytest case skips with it), never as a pass.
    """
