#!/usr/bin/env bash
# The native entry's install step (native/action.yml): a virtual environment under RUNNER_TEMP with the runtime
# dependencies from requirements.lock, the same hash-pinned universal lock the image installs.
#
# Why this way: nothing is resolved at run time (--require-hashes --no-deps: pip checks every file against the lock
# and installs only what it names) and nothing is built (--only-binary): no build backend runs, so hatchling need not
# be locked. The package itself is not installed at all: entrypoint.py imports `publisher` from the action's own
# checkout, as the image runs it from /app. A venv made earlier in the same job for the same lock and interpreter is
# reused (a second publish step costs no install); pip's own cache makes a re-run on a self-hosted runner fast.
# --no-compile: compiling all ~50 packages costs more than the install itself; the run writes bytecode for what it
# imports, under RUNNER_TEMP (pycache_prefix), and never into the action's checkout.
#
# Reads ACTION_ROOT (the action's checkout), VENV_PARENT (runner.temp) and GITHUB_OUTPUT; writes `python=` (the
# venv's interpreter) to GITHUB_OUTPUT. Only bash builtins run before a Python is found, so the error for a runner
# without one is ours.
set -euo pipefail

to_posix() {
    # Git Bash on Windows: `D:\a\_temp` as a path bash itself can run programs from.
    if command -v cygpath >/dev/null 2>&1; then cygpath -u "$1"; else printf '%s\n' "$1"; fi
}

python=""
found=""
for candidate in python3 python; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    # The Windows Store stub and any other non-Python named python answer nothing useful: skip them.
    version="$("$candidate" -I -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" || continue
    version="${version%$'\r'}"  # a Windows Python ends its lines with CR LF
    found="${found:+$found, }$candidate $version"
    if "$candidate" -I -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        python="$candidate"
        break
    fi
done
if [[ -z "$python" ]]; then
    echo "::error title=No Python 3.11+ on PATH::The native publish-dists action runs on the runner's own Python 3.11 or newer (python3 or python on PATH), and found ${found:-none}. Add a step before it: uses: actions/setup-python with python-version: \"3.12\" (or install Python 3.11+ on the self-hosted runner)."
    exit 2
fi

root="$(to_posix "$ACTION_ROOT")"
lock="$root/requirements.lock"
venv="$(to_posix "$VENV_PARENT")/publish-dists-native"
if [[ ! -f "$lock" ]]; then
    echo "::error title=Incomplete action checkout::requirements.lock is missing next to the native action; use it as OWNER/REPO/native@REF, which checks out the whole repository."
    exit 2
fi

# What the venv was made from: the lock's bytes and the interpreter. Anything else -> make it again.
stamp="$("$python" -I -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest(), sys.version.split()[0], sys.executable)' "$lock")"
stamp="${stamp%$'\r'}"
if [[ -x "$venv/Scripts/python.exe" ]]; then venv_python="$venv/Scripts/python.exe"; else venv_python="$venv/bin/python"; fi
if [[ -x "$venv_python" && -f "$venv/publish-dists.stamp" && "$(<"$venv/publish-dists.stamp")" == "$stamp" ]]; then
    echo "Reusing the publish-dists environment made earlier in this job ($python $version)."
else
    echo "::group::Install publish-dists's pinned dependencies ($python $version)"
    # The runner's own pip (setup-python's Python has one) installs into a venv made without pip: no ensurepip run,
    # no pip left in the venv (the image removes its pip too). A Python whose pip is missing or older than 22.3
    # (no --python) gets the venv's bundled pip instead.
    # (Plain words, not arrays: bash 3.2, macOS's own, has no empty arrays under `set -u`.)
    runner_pip=no
    venv_flags="--clear"
    if "$python" -I -c 'import pip, sys; sys.exit(tuple(map(int, pip.__version__.split(".")[:2])) < (22, 3))' 2>/dev/null; then
        runner_pip=yes
        venv_flags="--clear --without-pip"
    fi
    # shellcheck disable=SC2086  # two fixed words
    if ! "$python" -I -m venv $venv_flags "$venv"; then
        echo "::error title=Cannot create a virtual environment::$python $version has no working venv module (on Debian and Ubuntu: apt-get install python3-venv). Or add uses: actions/setup-python before this action."
        exit 2
    fi
    if [[ -x "$venv/Scripts/python.exe" ]]; then venv_python="$venv/Scripts/python.exe"; else venv_python="$venv/bin/python"; fi
    set -- install --disable-pip-version-check --no-input --quiet --no-compile \
        --require-hashes --no-deps --only-binary=:all: -r "$lock"
    if [[ $runner_pip == yes ]]; then "$python" -I -m pip --python "$venv_python" "$@"; else "$venv_python" -I -m pip "$@"; fi
    printf '%s' "$stamp" > "$venv/publish-dists.stamp"
    echo "::endgroup::"
fi
echo "python=$venv_python" >> "$GITHUB_OUTPUT"
