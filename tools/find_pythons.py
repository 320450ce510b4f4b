#!/usr/bin/env python3
"""Which CPython interpreters tools/build_wheels.sh builds wheels for.

    find_pythons.py [--pyenv-root DIR] [--min 3.9] [--max 3.13] [PYTHON ...]

With no PYTHON: every CPython 3.9-3.13 under pyenv (``$PYENV_ROOT/versions/*``, else
``~/.pyenv/versions/*``; the newest patch release of each minor version), and, for a minor
version pyenv does not have, ``python3.X`` on PATH. With PYTHONs (names on PATH such as
``python3.13``, or paths): those, each asked for its version.

Prints one line per chosen interpreter on stdout, ``<X.Y> <path>``, lowest first, and says on
stderr which it found and which it skipped (and why). Exits 1 when none is left.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

FINAL = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
PRERELEASE = re.compile(r"^(\d+)\.(\d+)\.(\d+)(a|b|rc)\d+$")
FREE_THREADED = re.compile(r"^(\d+)\.(\d+)\.(\d+)t$")
LOWEST, HIGHEST = (3, 9), (3, 13)


def parse_range(text):
    major, minor = text.split(".")
    return int(major), int(minor)


def classify(name, lowest=LOWEST, highest=HIGHEST):
    """A pyenv version folder name -> ((major, minor, patch), None) when it is a CPython to
    build for, else (None, reason)."""
    m = FINAL.match(name)
    if not m:
        if PRERELEASE.match(name):
            return None, "a pre-release"
        if FREE_THREADED.match(name):
            return None, "a free-threaded build (not supported)"
        return None, "not CPython"
    version = tuple(int(part) for part in m.groups())
    if not lowest <= version[:2] <= highest:
        return None, f"outside {lowest[0]}.{lowest[1]}-{highest[0]}.{highest[1]}"
    return version, None


def choose_pyenv(entries, lowest=LOWEST, highest=HIGHEST):
    """entries: (folder name, interpreter path or None when there is none) pairs.

    Returns (chosen, skipped): chosen a dict {(major, minor): (version, path)} with the newest
    patch release of each minor version; skipped a list of (name, reason)."""
    chosen, skipped = {}, []
    for name, path in sorted(entries, key=lambda e: e[0]):
        version, reason = classify(name, lowest, highest)
        if version is None:
            skipped.append((name, reason))
            continue
        if path is None:
            skipped.append((name, "no bin/python in it"))
            continue
        key = version[:2]
        if key in chosen:
            old_version, old_path = chosen[key]
            older, newer = sorted([(old_version, old_path), (version, path)])
            chosen[key] = newer
            skipped.append((".".join(map(str, older[0])), f"{'.'.join(map(str, newer[0]))} is newer"))
        else:
            chosen[key] = (version, path)
    return chosen, skipped


def pyenv_entries(root):
    """(name, path-or-None) for each folder of <root>/versions."""
    versions = os.path.join(root, "versions")
    if not os.path.isdir(versions):
        return []
    entries = []
    for name in sorted(os.listdir(versions)):
        folder = os.path.join(versions, name)
        if not os.path.isdir(folder):
            continue
        python = None
        for candidate in ("bin/python3", "bin/python"):
            if os.access(os.path.join(folder, candidate), os.X_OK):
                python = os.path.join(folder, candidate)
                break
        entries.append((name, python))
    return entries


def query(python):
    """(implementation, (major, minor), free-threaded) of an interpreter, or None if it does not run."""
    code = ("import sys, sysconfig; print(sys.implementation.name, sys.version_info[0], "
            "sys.version_info[1], bool(sysconfig.get_config_var('Py_GIL_DISABLED')))")
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    impl, major, minor, free = out.split()
    return impl, (int(major), int(minor)), free == "True"


def from_pyenv(given, entries):
    """python3.X -> the newest pyenv CPython 3.X's interpreter (pyenv's shim of python3.X only
    runs when that version is activated), else None."""
    m = re.fullmatch(r"python(\d+)\.(\d+)", given)
    if not m:
        return None
    key = (int(m.group(1)), int(m.group(2)))
    chosen, _ = choose_pyenv(entries, key, key)
    return chosen[key][1] if key in chosen else None


def check_given(pythons, lowest=LOWEST, highest=HIGHEST, which=shutil.which, ask=query, entries=()):
    """Interpreters named on the command line -> (chosen, skipped) as choose_pyenv. A name
    python3.X that is not on PATH (or is pyenv's shim of an inactive version) is looked up in
    `entries` (the pyenv folders)."""
    chosen, skipped = {}, []
    for given in pythons:
        path = given if os.sep in given else which(given)
        facts = ask(path) if path and os.access(path, os.X_OK) else None
        if facts is None and os.sep not in given and (alternative := from_pyenv(given, entries)):
            path, facts = alternative, ask(alternative)
        if not path or not os.access(path, os.X_OK):
            skipped.append((given, "not found"))
            continue
        if facts is None:
            skipped.append((given, "does not run"))
            continue
        impl, version, free = facts
        if impl != "cpython":
            skipped.append((given, f"{impl}, not CPython"))
        elif free:
            skipped.append((given, "a free-threaded build (not supported)"))
        elif not lowest <= version <= highest:
            skipped.append((given, f"Python {version[0]}.{version[1]}, outside "
                                   f"{lowest[0]}.{lowest[1]}-{highest[0]}.{highest[1]}"))
        elif version in chosen:
            skipped.append((given, f"Python {version[0]}.{version[1]} again"))
        else:
            chosen[version] = (version, path)
    return chosen, skipped


def add_from_path(chosen, lowest=LOWEST, highest=HIGHEST, which=shutil.which, ask=query):
    """Fill minor versions pyenv lacks with python3.X from PATH."""
    found = []
    for minor in range(lowest[1], highest[1] + 1):
        key = (lowest[0], minor)
        if key in chosen:
            continue
        path = which(f"python{key[0]}.{minor}")
        if path and (facts := ask(path)) and facts[0] == "cpython" and facts[1] == key and not facts[2]:
            chosen[key] = (key, path)
            found.append(key)
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pythons", nargs="*", help="interpreters (names on PATH or paths)")
    parser.add_argument("--pyenv-root", default=os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv"))
    parser.add_argument("--no-path", action="store_true", help="do not look for python3.X on PATH")
    parser.add_argument("--min", default="3.9", type=parse_range)
    parser.add_argument("--max", default="3.13", type=parse_range)
    args = parser.parse_args(argv)

    if args.pythons:
        chosen, skipped = check_given(args.pythons, args.min, args.max,
                                      entries=pyenv_entries(args.pyenv_root))
        where = "given"
    else:
        chosen, skipped = choose_pyenv(pyenv_entries(args.pyenv_root), args.min, args.max)
        where = f"under {args.pyenv_root}/versions"
        if not args.no_path:
            for key in add_from_path(chosen, args.min, args.max):
                print(f"find_pythons: {key[0]}.{key[1]} not under pyenv, found on PATH: {chosen[key][1]}",
                      file=sys.stderr)
    for key in sorted(chosen):
        version, path = chosen[key]
        print(f"find_pythons: found {'.'.join(map(str, version))} ({path})", file=sys.stderr)
    for name, reason in skipped:
        print(f"find_pythons: skipped {name}: {reason}", file=sys.stderr)
    if not chosen:
        print(f"find_pythons: no CPython {args.min[0]}.{args.min[1]}-{args.max[0]}.{args.max[1]} {where}",
              file=sys.stderr)
        return 1
    for key in sorted(chosen):
        print(f"{key[0]}.{key[1]} {chosen[key][1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
