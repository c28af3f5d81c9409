"""The error a tool raises to refuse a call.

It lives apart from `base` so that `orchestrator.workspace` can subclass it
without importing the Tool interface, which itself refers to Workspace.
"""


class ToolError(Exception):
    """A tool refused or failed; the message is shown to the model as the tool result."""
