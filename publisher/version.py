"""The version, in one leaf module every layer may import (the User-Agent names it)."""

__version__ = "1.0.0"
USER_AGENT = f"publish-dists/{__version__}"
