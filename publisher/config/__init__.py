"""What the user declared: settings from inputs or flags, the index target from pyproject.toml / uv.toml or a
.pypirc, netrc, and the pure URL rules (origins, loopback, plain http).

May import publisher.report only.
"""
