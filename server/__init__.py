"""deepthink-lsp: the deep-think orchestrator as a language server."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("deepthink-lsp")
except PackageNotFoundError:  # running from a source checkout
    __version__ = "0.0.0+source"
