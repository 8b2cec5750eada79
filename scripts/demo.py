"""`make demo`: publish examples/hello-publisher to a throwaway pypiserver with the action, then install it back.

Everything runs on loopback: a real pypiserver, a real hatchling build, the action's entrypoint started exactly as
the Actions runner starts it (INPUT_* variables, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY), and pip installing the
result from the server. Exits non-zero if any step fails. Work files are left in .demo/ for a look afterwards.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.builders import build_dir  # noqa: E402
from tests.support.runner import pip_install, run_action, run_installed  # noqa: E402
from tests.support.servers import PypiServer, ServerError  # noqa: E402

EXAMPLE = ROOT / "examples" / "hello-publisher"
WORK = ROOT / ".demo"
INDEX = "demo-registry"
PLACEHOLDER = "http://127.0.0.1:8765"
COMMAND = re.compile(r"^::(?P<cmd>[a-z-]+)(?P<props>[^:]*)::(?P<msg>.*)$")


class DemoError(Exception):
    """A step failed; the message says which and why."""


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line if line else line for line in text.rstrip("\n").splitlines())


def unescape(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def render_log(stdout: str, secret: str) -> str:
    """The action's log as the Actions UI would show it: groups as headings, masks honoured, commands decoded."""
    shown: list[str] = []
    masks = mask_at = 0
    for line in stdout.splitlines():
        match = COMMAND.match(line)
        if match is None:
            shown.append(line)
            continue
        cmd, props, msg = match["cmd"], match["props"].strip(), unescape(match["msg"])
        if cmd == "add-mask":
            masks += 1
            if masks == 1:
                shown.append("")  # filled in below, once every mask is counted
                mask_at = len(shown) - 1
        elif cmd == "debug":
            continue  # hidden in the Actions UI unless step debug logging is on
        elif cmd == "group":
            shown.append(f"> {msg}")
        elif cmd in {"error", "warning", "notice"}:
            title = re.search(r"title=([^,]*)", props)
            shown.append(f"{cmd}: {unescape(title[1]) + ': ' if title else ''}{msg}")
        elif cmd != "endgroup":
            shown.append(line)
    if masks:
        shown[mask_at] = f"({masks} secret value(s) registered with ::add-mask::; GitHub shows them as ***)"
    return "\n".join(shown).replace(secret, "***")


def prepare_project(url: str) -> Path:
    project = WORK / EXAMPLE.name
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("dist", "__pycache__", "*.egg-info"))
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    if text.count(PLACEHOLDER) != 2:
        raise DemoError(f"{EXAMPLE}/pyproject.toml should name {PLACEHOLDER} twice (url and publish-url)")
    pyproject.write_text(text.replace(PLACEHOLDER, url))
    return project


def demo(server: PypiServer, started: float) -> None:
    step(f"pypiserver on {server.url} (upload user {server.username!r}), ready in {time.monotonic() - started:.1f} s")

    project = prepare_project(server.url)
    dists = build_dir(project, project / "dist")
    step(f"built {dists.wheel.name} and {dists.sdist.name} with hatchling in .demo/{project.name}/dist")

    env = {"UV_INDEX_DEMO_REGISTRY_USERNAME": server.username, "UV_INDEX_DEMO_REGISTRY_PASSWORD": server.password}
    step(f"running the action: INPUT_INDEX={INDEX}, UV_INDEX_DEMO_REGISTRY_USERNAME / _PASSWORD set")
    run = run_action(project, {"index": INDEX}, env=env)
    print(indent(render_log(run.stdout, server.password), "    | "))
    if run.stderr.strip():
        print(indent(run.stderr.replace(server.password, "***"), "    stderr| "))
    if run.returncode != 0:
        raise DemoError(f"the action exited with status {run.returncode}")

    step("step outputs")
    for name, value in run.outputs.items():
        print(f"    {name:<12} {value}")
    step("job summary (Markdown)")
    print(indent(run.summary or "(empty)"))

    stored = server.files()
    expected = sorted([dists.wheel.name, dists.sdist.name])
    if stored != expected:
        raise DemoError(f"the server holds {stored}, expected {expected}")
    published = json.loads(run.outputs.get("published", "[]"))
    if sorted(published) != expected:
        raise DemoError(f"the `published` output is {published}, expected {expected}")

    step(f"pip install hello-publisher==0.1.0 --index-url {server.simple_url}")
    site = pip_install(server.simple_url, "hello-publisher==0.1.0", WORK / "site")
    step("python -m hello_publisher (from what pip installed)")
    result = run_installed(site, "import runpy; runpy.run_module('hello_publisher', run_name='__main__')")
    if result.returncode != 0 or "installed from a private index" not in result.stdout:
        raise DemoError(f"the installed package did not run:\n{result.stdout}{result.stderr}")
    print(indent(result.stdout))


def main() -> int:
    started = time.monotonic()
    print(f"publish-dists demo: {EXAMPLE.relative_to(ROOT)} -> a local pypiserver -> pip install\n")
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    server = PypiServer(workdir=WORK / "pypiserver", password=f"demo-{secrets.token_urlsafe(12)}")
    try:
        server.start()
        demo(server, started)
    except (DemoError, ServerError, AssertionError, RuntimeError) as exc:
        print(f"\nDEMO FAILED: {exc}", file=sys.stderr)
        if isinstance(exc, ServerError):  # the action's own log above explains everything else
            print(f"\npypiserver log ({server.log_path}):\n{indent(server.log()[-4000:])}", file=sys.stderr)
        return 1
    finally:
        server.stop()
    print(f"\ndemo passed in {time.monotonic() - started:.1f} s (files kept in {WORK.relative_to(ROOT)}/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
