#!/usr/bin/env bash
# The test crate on a second architecture: cross-builds the integration test
# binaries of ffi-callback-tests (tests/tests/*.rs) for
# aarch64-unknown-linux-gnu and runs them under qemu-user, so that the
# trampolines, the holders, the atomics and the unwinding out of real C code
# (glibc, bundled sqlite, static zlib, all built for aarch64) run on a
# weakly-ordered ISA with another calling convention.
#
#   scripts/test-aarch64.sh              every test binary that can run here
#   scripts/test-aarch64.sh -- ARGS...   ARGS go to every test binary
#
# Installs what it needs (Debian/Ubuntu, as root or through sudo): apt
# packages qemu-user, gcc-aarch64-linux-gnu and libc6-dev-arm64-cross, and
# the rustup target aarch64-unknown-linux-gnu on the stable toolchain. A
# failing `apt-get update` (a mirror mid-sync) is reported but not fatal;
# a package or target that cannot be installed is.
#
# Which test files run: every tests/tests/*.rs (and tests/tests/*/main.rs),
# so a new one is picked up, except
# - ui:     trybuild's compile-fail/pass cases check rustc's diagnostics,
#           which do not depend on the target, and trybuild drives a host
#           cargo from inside the test process: nothing of it runs aarch64
#           code;
# - c_glib: needs the `glib` feature and GLib built for aarch64 (multiarch
#           libglib2.0-dev:arm64); without the feature it is an empty binary.
# abort.rs runs too: it re-executes its own binary (std::env::current_exe(),
# which qemu-user reports as the aarch64 file) for each scenario, and the
# kernel can start that child only through a binfmt_misc handler for aarch64
# ELF files. When there is none, this script registers one for
# /usr/bin/qemu-aarch64 (mounting binfmt_misc if needed) and removes it when
# it ends. If that is not possible it fails, saying why;
# FFI_CALLBACK_AARCH64_NO_ABORT=1 then runs everything else and says loudly
# that abort.rs was left out.
#
# Everything is set through environment variables in this script, no repo
# config file: the linker (CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER), the
# C compiler and archiver for bundled sqlite and static zlib
# (CC_/AR_aarch64_unknown_linux_gnu), and the runner
# (CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64, with the
# aarch64 sysroot in QEMU_LD_PREFIX, which abort.rs's children inherit).
# Debug build (FFI_CALLBACK_AARCH64_PROFILE=release for a release one): on 2
# cores, building the C code and the tests with optimisations costs more
# than the emulated tests save. Builds go to cargo's target dir
# (CARGO_TARGET_DIR or ./target) under aarch64-unknown-linux-gnu/.
#
# Ends with `aarch64: N tests passed in M binaries under qemu-user (...)`,
# or with FAIL and a non-zero exit if anything failed or could not be set up.
set -Eeuo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
step() { printf '\n=== %s ===\n' "$*"; }
die() {
  printf '\nFAIL (scripts/test-aarch64.sh): %s\n' "$*" >&2
  exit 1
}
trap 'die "command failed (exit $?, line $LINENO): $BASH_COMMAND"' ERR
need() { command -v "$1" >/dev/null 2>&1 || die "\`$1\` not found after installing $2"; }

test_args=()
if [ $# -gt 0 ]; then
  [ "$1" = "--" ] || die "usage: $0 [-- ARGS for the test binaries]"
  shift
  test_args=("$@")
fi

triple=aarch64-unknown-linux-gnu
toolchain=stable
sysroot=/usr/aarch64-linux-gnu
profile=${FFI_CALLBACK_AARCH64_PROFILE:-debug}
case "$profile" in
  debug) profile_args=() ;;
  release) profile_args=(--release) ;;
  *) die "FFI_CALLBACK_AARCH64_PROFILE must be debug or release, not '$profile'" ;;
esac

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# apt_install PKG...: installs the packages that are missing. Like
# scripts/apt-install.sh (and sharing its once-per-boot stamp), except that a
# failing `apt-get update` is not fatal: an index that fails to download
# (a mirror mid-sync) may be one this script needs nothing from, so only the
# install decides. Waits for another apt/dpkg run to release its lock.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "apt-get not found: this script installs ${missing[*]} with apt (Debian/Ubuntu)"
  local stamp=/tmp/.ffi-callback-apt-updated update_log="" install_log=""
  local apt=($SUDO apt-get -o DPkg::Lock::Timeout=600)
  if [ ! -f "$stamp" ]; then
    if update_log=$("${apt[@]}" update -qq 2>&1); then
      touch "$stamp"
    else
      printf 'apt-get update failed; going on with the indexes that did download:\n%s\n' "$update_log" | sed 's/^/  /'
    fi
  fi
  echo "apt: installing ${missing[*]}"
  if ! install_log=$(DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" 2>&1); then
    # Perhaps the indexes were stale (a package since replaced on the
    # mirror): update once more and retry.
    echo "apt: the install failed; updating the indexes and retrying"
    update_log=$("${apt[@]}" update -qq 2>&1) || true
    install_log=$(DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" 2>&1) ||
      die "apt could not install ${missing[*]}:
$(printf '%s\n%s\n' "$update_log" "$install_log" | sed -e '/^debconf:/d' -e '/^$/d' | tail -n 40)"
  fi
}

step "install: qemu-user, the aarch64 cross gcc and libc, the rustup target $triple ($toolchain)"
apt_install qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross
need qemu-aarch64 qemu-user
need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
need aarch64-linux-gnu-ar "gcc-aarch64-linux-gnu (binutils-aarch64-linux-gnu)"
[ -e "$sysroot/lib/ld-linux-aarch64.so.1" ] ||
  die "$sysroot/lib/ld-linux-aarch64.so.1 missing (package libc6-arm64-cross)"
command -v rustup >/dev/null || die "rustup not found: it installs the $triple target"
rustup target list --toolchain "$toolchain" --installed | grep -qx "$triple" ||
  rustup target add --toolchain "$toolchain" "$triple" ||
  die "rustup could not add the target $triple to the $toolchain toolchain"
qemu_version=$(qemu-aarch64 --version | sed -n '1s/^qemu-aarch64 version \([^ ]*\).*/\1/p')
echo "qemu-aarch64 $qemu_version, $(aarch64-linux-gnu-gcc --version | head -n1), $(cargo "+$toolchain" --version)"

target_dir=$(cargo "+$toolchain" metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$target_dir" ] || die "could not read the target directory from \`cargo metadata\`"
work_dir=$target_dir/$triple/qemu
mkdir -p "$work_dir"

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
# The aarch64 dynamic loader and libc for qemu-user; an environment variable
# rather than `-L` so that processes the tests start get it too.
export QEMU_LD_PREFIX=$sysroot
export RUST_BACKTRACE=0
# qemu-user emulates at most 32 POSIX timers per process (timer_create then
# fails with EAGAIN): the futures test arms its 1,000 timers in batches.
export FFI_CALLBACK_TIMER_LIMIT=32

# ---- which test files ----
declare -A excluded_why=(
  [ui]="trybuild checks rustc's diagnostics (target-independent) and runs a host cargo from the test process"
  [c_glib]="needs the \`glib\` feature and an aarch64 GLib (multiarch libglib2.0-dev:arm64)"
)
tests=()
excluded=()
binfmt_note=""
for file in tests/tests/*.rs tests/tests/*/main.rs; do
  [ -e "$file" ] || continue
  if [[ "$file" == */main.rs ]]; then name=$(basename "$(dirname "$file")"); else name=$(basename "$file" .rs); fi
  if [ -n "${excluded_why[$name]:-}" ]; then
    excluded+=("$name")
    continue
  fi
  if [ "$name" = abort ] && [ "${FFI_CALLBACK_AARCH64_NO_ABORT:-0}" = 1 ]; then
    excluded_why[abort]="FFI_CALLBACK_AARCH64_NO_ABORT=1 (its child processes need a binfmt_misc handler for aarch64)"
    excluded+=(abort)
    binfmt_note="abort.rs NOT RUN (FFI_CALLBACK_AARCH64_NO_ABORT=1)"
    continue
  fi
  tests+=("$name")
done
[ ${#tests[@]} -gt 0 ] || die "no test file in tests/tests/ to run"
echo "running:  ${tests[*]}"
for name in "${excluded[@]}"; do echo "excluded: $name: ${excluded_why[$name]}"; done

cargo_test=(cargo "+$toolchain" test -p ffi-callback-tests --target "$triple" "${profile_args[@]}")
for name in "${tests[@]}"; do cargo_test+=(--test "$name"); done

step "build the test binaries for $triple ($profile)"
build_start=$SECONDS
"${cargo_test[@]}" --no-run
build_time=$((SECONDS - build_start))

# ---- abort.rs: its children are aarch64 executables started by the kernel ----
binfmt=/proc/sys/fs/binfmt_misc
binfmt_entry=ffi-callback-qemu-aarch64
binfmt_registered=no
binfmt_mounted=no
cleanup() {
  if [ "$binfmt_registered" = yes ]; then
    echo -1 | $SUDO tee "$binfmt/$binfmt_entry" >/dev/null 2>&1 || true
  fi
  if [ "$binfmt_mounted" = yes ]; then
    $SUDO umount "$binfmt" 2>/dev/null || true
  fi
}
trap cleanup EXIT

# binfmt_works: whether an aarch64 executable runs when started directly.
probe=$work_dir/binfmt-probe
binfmt_works() { "$probe" >/dev/null 2>&1; }

if [[ " ${tests[*]} " == *" abort "* ]]; then
  step "abort.rs: a binfmt_misc handler for aarch64 executables"
  printf 'int main(void) { return 0; }\n' | aarch64-linux-gnu-gcc -x c -o "$probe" -
  binfmt_error=""
  if binfmt_works; then
    echo "aarch64 executables already run through binfmt_misc"
    binfmt_note="abort.rs via the existing binfmt_misc handler"
  else
    if [ ! -e "$binfmt/register" ]; then
      if [ ! -d "$binfmt" ]; then
        binfmt_error="$binfmt does not exist (no binfmt_misc in this kernel)"
      elif mount_log=$($SUDO mount -t binfmt_misc binfmt_misc "$binfmt" 2>&1); then
        binfmt_mounted=yes
      else
        binfmt_error="cannot mount binfmt_misc on $binfmt: $mount_log"
      fi
    fi
    if [ -z "$binfmt_error" ]; then
      # The ELF header of an aarch64 little-endian executable, and the
      # mask, as in qemu's scripts/qemu-binfmt-conf.sh. No flags: the
      # kernel runs `/usr/bin/qemu-aarch64 FILE ARGS...`.
      magic='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
      mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
      qemu_path=$(command -v qemu-aarch64)
      if [ -e "$binfmt/$binfmt_entry" ]; then
        echo -1 | $SUDO tee "$binfmt/$binfmt_entry" >/dev/null 2>&1 || true
      fi
      if reg_log=$(printf ':%s:M::%s:%s:%s:\n' "$binfmt_entry" "$magic" "$mask" "$qemu_path" |
        $SUDO tee "$binfmt/register" 2>&1 >/dev/null); then
        binfmt_registered=yes
        echo "registered $binfmt/$binfmt_entry -> $qemu_path (removed when this script ends)"
        if binfmt_works; then
          binfmt_note="abort.rs via a binfmt_misc handler registered for the run"
        else
          binfmt_error="an aarch64 executable still does not start after registering $binfmt/$binfmt_entry: $("$probe" 2>&1 || true)"
        fi
      else
        binfmt_error="cannot register a handler in $binfmt/register: $reg_log"
      fi
    fi
  fi
  if [ -n "$binfmt_error" ]; then
    die "abort.rs re-executes its own (aarch64) binary, which needs a binfmt_misc handler, and none can be set up here:
  $binfmt_error
Run as root on a kernel with binfmt_misc, or set FFI_CALLBACK_AARCH64_NO_ABORT=1 to run the other tests without abort.rs."
  fi
fi

step "run the test binaries under qemu-aarch64 $qemu_version"
log=$work_dir/test.log
run_start=$SECONDS
status=0
"${cargo_test[@]}" --no-fail-fast -- "${test_args[@]}" 2>&1 | tee "$log" || status=$?
run_time=$((SECONDS - run_start))

binaries=$(grep -cE '^ *Running (tests/|unittests )' "$log" || true)
passed=$(awk '/^test result: / { n += $4 } END { print n + 0 }' "$log")
failed=$(awk '/^test result: / { n += $6 } END { print n + 0 }' "$log")
ran=$(sed -n 's/^ *Running \(tests\/[^ ]*\).*/\1/p' "$log" | tr '\n' ' ')

# The binaries that ran are aarch64 ELF files (e_machine 0xb7 = EM_AARCH64).
while read -r exe; do
  [ -n "$exe" ] || continue
  machine=$(od -An -tx1 -j18 -N2 "$exe" | tr -d ' ')
  [ "$machine" = b700 ] || die "$exe is not an aarch64 executable (ELF e_machine bytes: $machine)"
done < <(sed -n 's/^ *Running [^ ]* (\(.*\))$/\1/p' "$log")

if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || grep -q '^test result: FAILED' "$log"; then
  failures=$(grep -E '^error: [0-9]+ targets? failed|^ +`-p ffi-callback-tests' "$log" || true)
  die "tests failed under qemu-aarch64 (cargo exit $status; $passed passed, $failed failed)${failures:+
$failures}
(output above; log: $log)"
fi
[ "$binaries" -eq ${#tests[@]} ] ||
  die "expected ${#tests[@]} test binaries to run (${tests[*]}), cargo ran $binaries (ran: $ran)"
[ "$passed" -gt 0 ] || die "no test passed (log: $log)"

step "aarch64 tests passed in $((SECONDS - started)) s (build ${build_time} s, run ${run_time} s)"
echo "excluded: ${excluded[*]:-none}"
echo "aarch64: $passed tests passed in $binaries binaries under qemu-user (qemu-aarch64 $qemu_version, $profile build, ${tests[*]}${binfmt_note:+; $binfmt_note})"
