#!/usr/bin/env bash
# MSRV check: the published crates' `rust-version` (runtime/Cargo.toml and
# macros/Cargo.toml, edition 2021) must be true for what users build: the
# runtime `ffi-callback` and the macro crate `ffi-callback-macros`, and the
# code the macro generates in a user's crate. The tests and examples are
# edition 2024 on the current stable, so the old toolchain works on copies
# of the published crates (and of the hygiene and forbid(unsafe_code)
# crates, which compile generated code) in a workspace of their own.
#
#   scripts/msrv.sh            every check that this machine can run
#   scripts/msrv.sh --static   only the checks that need no old toolchain
#
# 1. With the MSRV toolchain (installed here through rustup when missing):
#    `cargo +MSRV test` of the runtime (every feature), the macros
#    (snapshots, fuzz), the hygiene and forbid(unsafe_code) crates. This is
#    the real check: language features (let chains are 1.88, `&raw` 1.82,
#    ...) and std APIs alike.
# 2. Always, on the current stable toolchain:
#    - every normal dependency of `ffi-callback` (the crates users compile)
#      declares a `rust-version` no newer than ours (Cargo.lock as locked;
#      resolver 3 prefers such versions when it updates the lock);
#    - `clippy::incompatible_msrv` (clippy reads `rust-version`): no std API
#      stabilised after the MSRV, in the runtime and the macros;
#    - a textual scan of the runtime and macro sources for syntax newer than
#      the MSRV that clippy does not see (let chains, `cfg(true)`).
# When the toolchain cannot be installed (offline), the script fails, as
# ui.sh does for its toolchain: step 2 alone cannot see every newer language
# feature, and CI must not pass a check that did not run. MSRV_OFFLINE=1
# runs step 2 anyway and passes, saying step 1 was NOT CHECKED (for a
# machine without network, by hand).
set -euo pipefail
cd "$(dirname "$0")/.."

static_only=false
[ "${1:-}" = "--static" ] && static_only=true

msrv=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' runtime/Cargo.toml)
[ -n "$msrv" ] || { echo "msrv: no rust-version in runtime/Cargo.toml" >&2; exit 1; }
echo "msrv: declared rust-version = $msrv"

# "a.b[.c]" <= "x.y[.z]"
version_le() {
  [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$1" ]
}

failures=0
fail() { echo "msrv: FAIL: $*" >&2; failures=$((failures + 1)); }
skipped=()

# ---- 1. the MSRV toolchain itself ----------------------------------------
toolchain_ok=false
if ! $static_only; then
  if ! command -v rustup >/dev/null; then
    skipped+=("no rustup: cannot install Rust $msrv")
  elif rustup run "$msrv" rustc --version >/dev/null 2>&1; then
    toolchain_ok=true
  else
    echo "msrv: installing Rust $msrv (rustup, minimal profile)"
    if install_log=$(rustup toolchain install "$msrv" --profile minimal 2>&1); then
      toolchain_ok=true
    else
      echo "msrv: rustup toolchain install $msrv failed:" >&2
      { grep -iE '^(error|warn)|could not|failed' <<<"$install_log" || tail -n 5 <<<"$install_log"; } \
        | head -n 5 | sed 's/^/  /' >&2
      skipped+=("Rust $msrv could not be installed (see the rustup error above)")
    fi
  fi
fi

for manifest in runtime/Cargo.toml macros/Cargo.toml; do
  for field in "edition = \"2021\"" "rust-version = \"$msrv\""; do
    grep -qx "$field" "$manifest" || fail "$manifest does not declare $field"
  done
done

if $toolchain_ok; then
  echo "msrv: $(rustup run "$msrv" rustc --version)"
  # A workspace of copies: the real one has edition-2024 members and
  # resolver 3, which an old cargo cannot even read. The lock file keeps the
  # dependency versions CI tests with.
  ws="$(mktemp -d)/msrv-workspace"
  mkdir -p "$ws/tests"
  cp -rL runtime macros "$ws/"
  cp -rL tests/hygiene tests/forbid_unsafe "$ws/tests/"
  cp Cargo.lock "$ws/"
  {
    printf '[workspace]\nresolver = "2"\n'
    printf 'members = ["runtime", "macros", "tests/hygiene", "tests/forbid_unsafe"]\n\n'
    sed -n '/^\[workspace.package\]/,/^$/p' Cargo.toml | grep -vE '^(edition|rust-version)'
    sed -n '/^\[workspace.lints/,/^\[profile/p' Cargo.toml | grep -v '^\[profile'
  } >"$ws/Cargo.toml"
  # Its own target directory: another compiler's artifacts would only be
  # rebuilt over and over.
  msrv_target="${CARGO_TARGET_DIR:-$PWD/target}/msrv-$msrv"
  echo "msrv: cargo +$msrv test (runtime with every feature, macros, hygiene, forbid-unsafe)"
  if ! (cd "$ws" && CARGO_TARGET_DIR="$msrv_target" cargo "+$msrv" test -q --all-features \
      -p ffi-callback -p ffi-callback-macros -p ffi-callback-hygiene \
      -p ffi-callback-forbid-unsafe); then
    fail "cargo +$msrv test"
  fi
  rm -rf "$(dirname "$ws")"
fi

# ---- 2. checks on the current toolchain ----------------------------------
echo "msrv: rust-version of every dependency users compile (Cargo.lock)"
deps=$(cargo tree -p ffi-callback --all-features -e normal,build --prefix none --format '{p}' \
  | sed 's/ (.*//; s/ v/ /' | sort -u)
metadata=$(cargo metadata --format-version 1 --locked)
while read -r name version; do
  [ -n "$name" ] || continue
  case "$name" in ffi-callback | ffi-callback-macros) continue ;; esac
  needs=$(jq -r --arg n "$name" --arg v "$version" \
    '.packages[] | select(.name == $n and .version == $v) | .rust_version // "unset"' \
    <<<"$metadata" | head -n1)
  if [ "$needs" = "unset" ] || [ -z "$needs" ]; then
    echo "  $name $version: no rust-version declared (cannot tell)"
  elif version_le "$needs" "$msrv"; then
    echo "  $name $version: rust-version $needs ok"
  else
    fail "$name $version needs Rust $needs > $msrv"
  fi
done <<<"$deps"

echo "msrv: cargo clippy -D clippy::incompatible_msrv (runtime, macros)"
if ! cargo clippy -q -p ffi-callback -p ffi-callback-macros --all-targets --no-deps -- \
    -A clippy::all -D clippy::incompatible_msrv; then
  fail "clippy::incompatible_msrv"
fi

echo "msrv: syntax newer than $msrv in runtime/src and macros/src"
# let chains (1.88): `if let P = e && ...` / `&& let P = e`.
if version_le "$msrv" "1.87"; then
  if grep -rnE '(^|[^a-z_])(if|while) let [^{]*&&|&& *let ' runtime/src macros/src; then
    fail "let chains (stable in 1.88) in the sources above"
  fi
fi
# `cfg(true)` / `cfg(false)` (1.88).
if version_le "$msrv" "1.87"; then
  if grep -rnE 'cfg(_attr)?\((true|false)' runtime/src macros/src; then
    fail "cfg(true/false) (stable in 1.88) in the sources above"
  fi
fi

echo
if [ ${#skipped[@]} -gt 0 ]; then
  echo "msrv: NOT CHECKED:"
  printf '  - %s\n' "${skipped[@]}"
  echo "  Without Rust $msrv only std APIs (clippy) and the two syntax forms"
  echo "  above are checked; other language features and compiler behaviour"
  echo "  newer than $msrv are not."
fi
if [ ${#skipped[@]} -gt 0 ] && [ "${MSRV_OFFLINE:-}" != 1 ]; then
  fail "Rust $msrv did not run (set MSRV_OFFLINE=1 to pass with the static checks alone)"
fi
if [ "$failures" -gt 0 ]; then
  echo "msrv: $failures check(s) failed"
  exit 1
fi
if $toolchain_ok; then
  echo "msrv: Rust $msrv builds and tests the runtime and the macros; all checks passed"
else
  echo "msrv: static checks passed (the Rust $msrv toolchain itself was not run)"
fi
