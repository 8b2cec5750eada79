"""Publish built Python distributions to a named package index declared in pyproject.toml."""

__version__ = "1.0.0"
USER_AGENT = f"publish-dists/{__version__}"
