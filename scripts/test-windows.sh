#!/usr/bin/env bash
# The Windows scenario, for real: builds the runtime, the macros and the
# `enum_windows` / `enum_fonts` examples for x86_64-pc-windows-gnu, runs the
# examples under Wine (EnumWindows and EnumFontFamiliesExW call our
# `extern "system"` callbacks from user32/gdi32), and checks what they print,
# including a panic in each callback being resumed on the Rust side with its
# payload. Then the same for 32-bit Windows (i686-pc-windows-gnu, where
# "system" means stdcall), as far as this machine allows.
#
# Installs what it needs (Debian/Ubuntu: apt, rustup). Fails, with a message
# saying what is missing, rather than skipping. The one exception is running
# the i686 build under Wine: when wine32:i386 cannot be installed, this says
# so loudly, with apt's error, and carries on; FFI_CALLBACK_REQUIRE_I686=1
# makes that fatal too.
#
# Uses cargo's target dir (CARGO_TARGET_DIR or ./target): Windows builds
# under <target>/<triple>/, Wine prefixes under <target>/wine/. The mingw
# linker is set through CARGO_TARGET_<TRIPLE>_LINKER, so no other build
# changes.
set -Eeuo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
step() { printf '\n=== %s ===\n' "$*"; }
die() {
  printf '\nFAIL (scripts/test-windows.sh): %s\n' "$*" >&2
  exit 1
}
trap 'die "command failed (exit $?, line $LINENO): $BASH_COMMAND"' ERR
need() { command -v "$1" >/dev/null 2>&1 || die "\`$1\` not found after installing $2"; }

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

x64=x86_64-pc-windows-gnu
x86=i686-pc-windows-gnu
examples=(--example enum_windows --example enum_fonts)

step "install: Wine, its fonts, mingw-w64, Xvfb, the rustup target $x64"
command -v apt-get >/dev/null || die "apt-get not found: this script installs its tools with apt (Debian/Ubuntu)"
scripts/apt-install.sh wine wine64 fonts-wine gcc-mingw-w64-x86-64 xvfb xauth
rustup target add "$x64"
export WINEDEBUG=-all
need wine "wine/wine64"
need wineserver "wine/wine64"
need xvfb-run "xvfb"
need x86_64-w64-mingw32-gcc "gcc-mingw-w64-x86-64"
wine --version

target_dir=$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$target_dir" ] || die "could not read the target directory from \`cargo metadata\`"
log_dir=$target_dir/wine/logs
mkdir -p "$log_dir"

export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CARGO_TARGET_I686_PC_WINDOWS_GNU_LINKER=i686-w64-mingw32-gcc

step "build the runtime and the macros for $x64"
cargo build -p ffi-callback --target "$x64"

step "build the Windows examples for $x64"
cargo build -p examples --target "$x64" "${examples[@]}"

step "clippy on the Windows examples, for $x64"
cargo clippy -p examples --no-deps --target "$x64" "${examples[@]}" -- -D warnings

# Runs Wine with our prefix; every Wine process started here is ended by
# `wineserver -k` on that prefix when the script exits.
prefixes=()
cleanup() {
  local p
  for p in "${prefixes[@]}"; do
    WINEPREFIX=$p wineserver -k >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

# prepare_prefix DIR ARCH: creates the Wine prefix (the slow first start),
# and puts the fonts Wine ships where this Wine finds them.
prepare_prefix() {
  export WINEPREFIX=$1 WINEARCH=$2
  prefixes+=("$WINEPREFIX")
  if [ ! -f "$WINEPREFIX/system.reg" ]; then
    echo "creating the Wine prefix $WINEPREFIX ($WINEARCH)"
    # No Mono/Gecko install prompts in a headless run.
    WINEDLLOVERRIDES="mscoree,mshtml=" xvfb-run -a wine wineboot --init 2>&1 |
      grep -v 'X connection to .* broken' || true
    wineserver -w
  fi
  [ -f "$WINEPREFIX/system.reg" ] || die "Wine did not create its prefix in $WINEPREFIX"
  # Debian 12's Wine 8 looks for the fonts it ships (package fonts-wine,
  # /usr/share/wine/fonts) in <datadir>/../fonts, i.e. /usr/share/fonts, and
  # so never finds them: link them into C:\windows\Fonts, where Windows keeps
  # fonts and where every Wine looks.
  local fonts=/usr/share/wine/fonts
  [ -f "$fonts/tahoma.ttf" ] || die "$fonts/tahoma.ttf missing (package fonts-wine)"
  mkdir -p "$WINEPREFIX/drive_c/windows/Fonts"
  ln -sf "$fonts"/* "$WINEPREFIX/drive_c/windows/Fonts/"
}

# build_prng_shim CC DIR [LDFLAGS...]: Rust's std imports ProcessPrng from
# bcryptprimitives.dll, which Wine 8 lacks; put a stand-in beside the .exe.
build_prng_shim() {
  local cc=$1 dir=$2
  shift 2
  "$cc" -Wall -Wextra -Werror -O2 -shared -o "$dir/bcryptprimitives.dll" \
    scripts/windows/bcryptprimitives.c "$@" -ladvapi32
  local exports
  exports=$("${cc%-gcc}-objdump" -p "$dir/bcryptprimitives.dll")
  grep -Eq '\] ProcessPrng$' <<<"$exports" ||
    die "$dir/bcryptprimitives.dll does not export an undecorated ProcessPrng"
}

# run NAME EXE [ARGS...]: runs EXE under Wine with a virtual X display
# (EnumWindows finds no window without one), prints its output, fails on a
# non-zero exit. Output goes to $log_dir/NAME.{out,err}.
run() {
  local name=$1
  shift
  local out=$log_dir/$name.out err=$log_dir/$name.err rc=0
  xvfb-run -a wine "$@" >"$out" 2>"$err" || rc=$?
  local exe=$1
  shift
  printf -- '--- %s: wine %s (exit %d)\n' "$name" "$(basename "$exe")${*:+ $*}" "$rc"
  cat "$out"
  # Wine's desktop process complains when xvfb-run stops the X server.
  grep -v 'X connection to .* broken' "$err" | sed 's/^/  [stderr] /' || true
  [ "$rc" -eq 0 ] || die "$name exited with status $rc (output above, logs in $log_dir)"
}

# expect NAME FILE ERE WHAT: FILE (NAME's stdout or stderr) has a line
# matching ERE.
expect() {
  grep -Eq -- "$3" "$log_dir/$1.$2" || die "$1: $4 (no line matching /$3/ in $log_dir/$1.$2)"
}

# check_examples TRIPLE DIR: runs both examples, normally and with --panic.
check_examples() {
  local t=$1 dir=$2
  run "$t-enum_windows" "$dir/enum_windows.exe"
  expect "$t-enum_windows" out '^EnumWindows returned TRUE: found [1-9][0-9]* top-level windows' \
    "EnumWindows found no top-level window"

  run "$t-enum_windows-panic" "$dir/enum_windows.exe" --panic
  expect "$t-enum_windows-panic" err 'panicked at examples.examples.enum_windows\.rs' \
    "the callback did not panic"
  expect "$t-enum_windows-panic" out '^EnumWindows returned 0 to Rust after 2 callback calls$' \
    "EnumWindows did not return FALSE to Rust after the panicking call"
  expect "$t-enum_windows-panic" out \
    '^panic resumed on the Rust side with its payload: "window #2 \(0x[0-9a-f]+\) refused by the callback"$' \
    "the panic was not resumed with its payload"

  run "$t-enum_fonts" "$dir/enum_fonts.exe"
  expect "$t-enum_fonts" out '^EnumFontFamiliesExW returned 1 after [0-9]+ calls: found [1-9][0-9]* font families' \
    "EnumFontFamiliesExW found no font family"
  expect "$t-enum_fonts" out '^  Tahoma$' \
    "Tahoma (the font Wine ships as its UI font) is not in the font list"

  run "$t-enum_fonts-panic" "$dir/enum_fonts.exe" --panic
  expect "$t-enum_fonts-panic" err 'panicked at examples.examples.enum_fonts\.rs' \
    "the closure did not panic"
  expect "$t-enum_fonts-panic" out '^EnumFontFamiliesExW returned 0 to Rust after 3 closure calls$' \
    "EnumFontFamiliesExW did not return 0 to Rust after the panicking call"
  expect "$t-enum_fonts-panic" out \
    '^panic resumed on the Rust side with its payload: "font #3 \(.+\) refused by the closure"$' \
    "the panic was not resumed with its payload"
}

export RUST_BACKTRACE=0

step "run the $x64 examples under Wine"
x64_dir=$target_dir/$x64/debug/examples
build_prng_shim x86_64-w64-mingw32-gcc "$x64_dir"
prepare_prefix "$target_dir/wine/$x64" win64
check_examples "$x64" "$x64_dir"
x64_result="EnumWindows and EnumFontFamiliesExW ran under Wine; panics resumed with their payloads"

# ---- 32-bit Windows: "system" is stdcall, the callee pops its arguments ----

step "install: mingw-w64 for i686, the rustup target $x86"
scripts/apt-install.sh gcc-mingw-w64-i686
rustup target add "$x86"
need i686-w64-mingw32-gcc "gcc-mingw-w64-i686"

step "build the runtime, the macros and the Windows examples for $x86"
cargo build -p ffi-callback --target "$x86"
cargo build -p examples --target "$x86" "${examples[@]}"
x86_dir=$target_dir/$x86/debug/examples
build_prng_shim i686-w64-mingw32-gcc "$x86_dir" -Wl,--kill-at

step "check that the $x86 callbacks are stdcall"
# rustc decorates stdcall symbols with @<bytes of arguments>, and a stdcall
# fn returns with `ret $<bytes>`: (HWND, LPARAM) is 8 bytes,
# (*const LOGFONTW, *const TEXTMETRICW, u32, LPARAM) 16.
check_stdcall() {
  local exe=$1 pattern=$2 bytes=$3 symbols sym
  symbols=$(i686-w64-mingw32-objdump -t "$exe" |
    { grep -Eo "__ZN[^ ]*${pattern}[^ ]*@[0-9]+" || true; } | sort -u)
  [ -n "$symbols" ] || die "no stdcall symbol matching $pattern in $exe"
  for sym in $symbols; do
    [ "${sym##*@}" = "$bytes" ] || die "$sym: expected @$bytes (stdcall with $bytes bytes of arguments)"
    echo "  $sym"
  done
}
check_stdcall "$x86_dir/enum_windows.exe" '14collect_window17h' 8
check_stdcall "$x86_dir/enum_windows.exe" '15panic_on_second17h' 8
check_stdcall "$x86_dir/enum_fonts.exe" '10trampoline10trampoline17h' 16

step "install: 32-bit Wine (wine32:i386)"
wine32_error=""
if ! dpkg -s wine32:i386 >/dev/null 2>&1; then
  added_i386=no
  if ! dpkg --print-foreign-architectures | grep -qx i386; then
    $SUDO dpkg --add-architecture i386
    added_i386=yes
  fi
  update_log=$($SUDO apt-get update -qq 2>&1) || true
  if ! install_log=$(DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q \
    --no-install-recommends wine32:i386 2>&1); then
    wine32_error=$(printf '%s\n%s\n' "$update_log" "$install_log" | grep -v '^debconf:' |
      sed '/^$/d' | tail -n 40)
    # Leave apt as it was: an i386 architecture whose indexes cannot be
    # fetched makes every later `apt-get update` fail.
    if [ "$added_i386" = yes ] && ! dpkg -l | awk '$4 == "i386" { found = 1 } END { exit !found }'; then
      $SUDO dpkg --remove-architecture i386
    fi
  fi
fi

if [ -z "$wine32_error" ]; then
  step "run the $x86 examples under 32-bit Wine"
  prepare_prefix "$target_dir/wine/$x86" win32
  check_examples "$x86" "$x86_dir"
  x86_result="EnumWindows and EnumFontFamiliesExW ran under 32-bit Wine; panics resumed with their payloads"
else
  step "$x86: NOT RUN under Wine: wine32:i386 cannot be installed here"
  printf 'apt says:\n%s\n' "$wine32_error" | sed 's/^/  /'
  echo "The $x86 runtime, macros and examples were built and their callbacks checked"
  echo "to be stdcall (above), but were not run."
  if [ "${FFI_CALLBACK_REQUIRE_I686:-0}" = 1 ]; then
    die "FFI_CALLBACK_REQUIRE_I686=1 and wine32:i386 cannot be installed"
  fi
  x86_result="built and checked stdcall; NOT RUN (wine32:i386 cannot be installed here, see above)"
fi

step "Windows tests passed in $((SECONDS - started)) s"
echo "$x64: $x64_result"
echo "$x86: $x86_result"
