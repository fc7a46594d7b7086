#!/usr/bin/env bash
# Proof that the simulator catches bugs: applies each deliberate bug in
# sim/mutants/*.patch to a copy of the workspace (never to the real one),
# builds the simulator there with madsim, and runs seeds 0..SEEDS until a
# seed fails. Prints a table of bug vs seeds-to-catch; exits non-zero if
# any mutant survives the budget (or does not build, or fails for a reason
# other than a failing seed).
#
# usage: sim/mutants/check.sh [SEEDS] [PATCH...]   (SEEDS defaults to 10000)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
seeds="${1:-10000}"
shift || true
patches=("$@")
if [ ${#patches[@]} -eq 0 ]; then
    patches=(sim/mutants/*.patch)
fi

# One copy at a fixed path and the madsim target dir of the real build:
# third-party crates are built once, and each mutant rebuilds only core and
# the simulator. The copy's binary is renamed so it never replaces the real
# simulator in target/sim/release.
target="${CARGO_TARGET_DIR:-$root/target/sim}"
work="$target/mutant-src"
export CARGO_TARGET_DIR="$target" RUSTFLAGS="--cfg madsim"

fresh_copy() {
    rm -rf "$work"
    mkdir -p "$work"
    cp Cargo.toml Cargo.lock "$work/"
    [ -f rustfmt.toml ] && cp rustfmt.toml "$work/"
    for dir in core daemon sim; do
        tar --exclude=target -cf - "$dir" | tar -xf - -C "$work"
    done
    # Only what the simulator needs is copied (the daemon for the optional
    # SQLite mode, which the mutant builds leave off): the workspace is cut
    # down to it.
    sed -i 's/^members = .*/members = ["core", "daemon", "sim"]/' "$work/Cargo.toml"
    sed -i '/^\[\[bin\]\]/,/^name/ s/^name = "daybook-sim"$/name = "daybook-sim-mutant"/' "$work/sim/Cargo.toml"
    grep -q '^name = "daybook-sim-mutant"$' "$work/sim/Cargo.toml"
}

printf '%-24s %-10s %s\n' "bug" "caught" "seeds to catch"
survivors=0
for patch in "${patches[@]}"; do
    name="$(basename "$patch" .patch)"
    fresh_copy
    # The copy lies inside this repository's target dir: stop git from
    # finding the repository, or `git apply` would patch nothing and say so
    # by succeeding.
    if ! (cd "$work" && GIT_CEILING_DIRECTORIES="$(dirname "$work")" git apply "$root/$patch") ||
        ! grep -rq "MUTANT" "$work/core/src"; then
        printf '%-24s %-10s %s\n' "$name" "NO" "patch does not apply"
        survivors=$((survivors + 1))
        continue
    fi
    if ! cargo build --quiet --release -p daybook-sim --manifest-path "$work/Cargo.toml" 2>"$work/build.log"; then
        printf '%-24s %-10s %s\n' "$name" "NO" "does not build (see $work/build.log)"
        survivors=$((survivors + 1))
        continue
    fi
    set +e
    out="$("$target/release/daybook-sim-mutant" --seed 0 --seeds "$seeds" --store mem 2>/dev/null)"
    code=$?
    set -e
    failed="$(printf '%s\n' "$out" | sed -n 's/^FAILED seed \([0-9]*\): .*/\1/p')"
    if [ "$code" -eq 1 ] && [ -n "$failed" ]; then
        why="$(printf '%s\n' "$out" | sed -n 's/^FAILED seed [0-9]*: //p' | cut -c1-90)"
        printf '%-24s %-10s %s\n' "$name" "yes" "$((failed + 1))  (seed $failed: $why)"
    else
        printf '%-24s %-10s %s\n' "$name" "NO" "survived $seeds seeds (exit $code)"
        survivors=$((survivors + 1))
    fi
done
rm -rf "$work"
if [ "$survivors" -gt 0 ]; then
    echo "$survivors mutant(s) survived"
    exit 1
fi
