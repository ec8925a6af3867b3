"""The harness's own failure type.

A failed *check* is an ``AssertionError`` (the deployment is wrong). A
``HarnessError`` means the harness could not find out: a tool is missing, an
input is malformed, a wait timed out. Its message names the problem and the fix.
"""


class HarnessError(Exception):
    """The harness could not do its job; the message says what and how to fix it."""
