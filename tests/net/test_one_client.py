"""Structural: every request the tool makes goes through the one bounded client (net/transport.py's GuardedTransport:
deadline, answer caps, abort_all, proxies, the user's native-tls choice). New code cannot open a way around it:

- every `httpx.Client(...)` in publisher/ takes its transport and mounts from `client_routing(...)` (a `**` argument
  built by it), and `client_routing` has no default for `native_tls`, so no client forgets the user's choice;
- only the network layer (publisher/net/) and the one bridge for sigstore's own client (attest/sigstore_http.py)
  touch sockets, TLS, urllib3, requests, http.client or urllib.request (two named exceptions make no connection).
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from publisher.net.transport import client_routing

PACKAGE = Path(__file__).resolve().parents[2] / "publisher"
LOW_LEVEL = {"socket", "ssl", "http.client", "urllib.request", "urllib3", "requests", "httpcore"}
MAY_USE_LOW_LEVEL = {"net", "attest/sigstore_http.py"}
# Named exceptions, each for one module and one reason (no connection is made there):
EXCEPTIONS = {
    ("attest/sign.py", "requests"),  # sigstore's errors are requests' exception types: read, never sent
    ("config/urls.py", "socket"),  # getaddrinfo for the `*.localhost` loopback rule: a lookup, not a connection
}


def _modules() -> list[tuple[str, ast.Module]]:
    return [
        (path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


def _is_httpx_client(call: ast.Call) -> bool:
    func = call.func
    return isinstance(func, ast.Attribute) and func.attr == "Client" and getattr(func.value, "id", "") == "httpx"


def _routed_names(tree: ast.AST) -> set[str]:
    """Names assigned from a client_routing(...) call."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            if getattr(func, "id", getattr(func, "attr", "")) == "client_routing":
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def test_every_client_is_built_on_the_guarded_routing() -> None:
    clients = 0
    unrouted = []
    for name, tree in _modules():
        routed = _routed_names(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _is_httpx_client(node)):
                continue
            clients += 1
            spread = [k.value for k in node.keywords if k.arg is None]
            ok = any(
                (isinstance(v, ast.Name) and v.id in routed)
                or (isinstance(v, ast.Call) and getattr(v.func, "id", "") == "client_routing")
                for v in spread
            )
            if not ok:
                unrouted.append(f"{name}:{node.lineno}")
    assert clients >= 4, "the scan found too few clients: has the code's shape changed?"
    assert unrouted == [], f"httpx.Client built without client_routing(...): {unrouted}"


def test_client_routing_takes_native_tls_without_a_default() -> None:
    parameter = inspect.signature(client_routing).parameters["native_tls"]
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
    assert parameter.default is inspect.Parameter.empty


def test_only_the_network_layer_touches_sockets_tls_and_other_http_stacks() -> None:
    offenders = []
    for name, tree in _modules():
        if name.split("/")[0] in MAY_USE_LOW_LEVEL or name in MAY_USE_LOW_LEVEL:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            else:
                continue
            offenders += [
                f"{name}:{node.lineno} {m}"
                for m in modules
                if (m.split(".")[0] in LOW_LEVEL or m in LOW_LEVEL) and (name, m.split(".")[0]) not in EXCEPTIONS
            ]
    assert offenders == []
