"""How each front end spells a setting: `packages-dir` input and `attestations: false` in a workflow, --packages-dir
and --no-attestations on the command line. Messages name settings only through these, so the command line never
reads "set `packages-dir`" (tests/test_newcomer_edges.py scans every message for it).

Pure, and at the bottom layer: every stage's messages may use it (cancellation's too).
"""

from __future__ import annotations


def label(name: str, front_end: str) -> str:
    """How an input is spelled in a front end: `token` input (Actions), or --token (command line)."""
    return f"`{name}` input" if front_end == "action" else f"--{name}"


def labels(names: tuple[str, ...], front_end: str) -> str:
    """Several inputs at once: the `index` and `publish-url` inputs (Actions), or --index and --publish-url."""
    if front_end == "action":
        quoted = [f"`{name}`" for name in names]
        return f"the {', '.join(quoted[:-1])} and {quoted[-1]} inputs" if len(names) > 1 else f"the {quoted[0]} input"
    spelled = [f"--{name}" for name in names]
    return f"{', '.join(spelled[:-1])} and {spelled[-1]}" if len(names) > 1 else spelled[0]


NEGATABLE = frozenset({"verify-metadata", "print-hash", "attestations"})  # the command line has --no-<name>


def written(name: str, value: object, front_end: str) -> str:
    """A setting with a value, as the user writes it: `keyring-provider: disabled` (Actions) or
    --keyring-provider disabled; a flag as --name, --no-name, or `no --name` where the command line has no
    negative form (the flag is off unless given)."""
    if front_end == "action":
        return f"`{name}: {str(value).lower() if isinstance(value, bool) else value}`"
    if value is True:
        return f"--{name}"
    if value is False:
        return f"--no-{name}" if name in NEGATABLE else f"no --{name}"
    return f"--{name} {value}"


def set_to(name: str, value: object, front_end: str) -> str:
    """The instruction to give a setting a value: set `attestations: false` (Actions), pass --no-attestations,
    or leave out --skip-existing (command line)."""
    if front_end != "action" and value is False and name not in NEGATABLE:
        return f"leave out --{name}"
    return f"{'set' if front_end == 'action' else 'pass'} {written(name, value, front_end)}"
