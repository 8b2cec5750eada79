"""Credentials: the chain (inputs, UV_INDEX_*, .pypirc, keyring, netrc) and the token sources (OIDC identity,
trusted publishing, JFrog OIDC), each credential bound to the origin it was made for.

May import publisher.net, publisher.dists, publisher.config and publisher.report.
"""
