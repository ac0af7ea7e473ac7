#!/usr/bin/env bash
# Instructions per comparator call, per-closure setup + teardown, and code
# bytes per callback, for every variant of the overhead benchmark
# (benches/src/variants.rs), counted with callgrind: deterministic, so the
# figures do not depend on how busy the machine is.
#
#   scripts/instructions.sh            # N=100000 values, K=1000 setups
#   N=20000 K=200 scripts/instructions.sh
#
# How each figure is obtained (all from one release build with debug info):
# - Ir/call: the driver sorts N values with the variant; callgrind collects
#   only inside the C call (--toggle-collect on ffi_callback_benches::c::*,
#   the non-inlined wrappers of qsort/qsort_r), which is glibc's sort plus
#   every comparator call. glibc's own share is the same for every variant
#   (same data, same comparisons), and is found from the floor (a): its total
#   minus its comparator's own cost (a second run that collects only inside
#   the comparator symbol). Ir/call = (total - glibc's share) / calls, so it
#   counts everything from qsort's `call` to the comparator's `ret`,
#   including thunks without symbols (libffi).
# - entry Ir/call: a cross-check where C calls a named Rust symbol: collects
#   only inside it.
# - setup+teardown: K runs of the variant's setup_teardown (builds the
#   callback exactly as for the sort, hands it to a C-ABI function that calls
#   back zero times, tears it down), minus the same for a baseline that hands
#   C a static function and no state, divided by K.
# - Rust allocs: counted by the driver's global allocator (libffi also
#   allocates executable closure memory in C, which this does not see).
# - code bytes: `nm -S` size of the symbol C calls (the trampoline; one
#   instance, the largest, where the closure types of `sort` and
#   `setup_teardown` make two), and of the out-of-line code the call site
#   adds (its setup_teardown function plus the generic instances it calls
#   or tail-calls, e.g. a resume_panics<closure> or a set's scope<..>).
# - vs twin: against the row's hand-written equivalent, the same body with
#   `catch_unwind`: (c') for the fn form and a set's entry point, (c) for a
#   callback type, (c'r)/(cr) for the `Result` rows, whose body can fail
#   (on the measured path it never does).
# - DESIGN limit: DESIGN.md's "Cost", over the twin: the fn form and a
#   set's entry point at most 3 instructions per call more ((c') + 3, and
#   (c'r) + 3 returning `Result`), a callback type with re-entry detection
#   and poisoning at most 2 ((c) + 2, (cr) + 2). `local` and `sync` types
#   (m, n) do more per call by contract (a thread check, atomics) and have
#   none.
# The script fails (after printing everything) when a #[callback] row's
# calls allocate (the sort allocates more than building the callback
# does: DESIGN allows no allocation beyond an owned closure's box), or when a fn-form row ((g), (gt), (j))
# misses its DESIGN limit: instruction counts are deterministic, so either
# is a regression, not noise. (The callback types' and sets' limits are
# below what their checks cost: benches/RESULTS.md, "What the limits
# allow"; those rows are reported, not enforced.)
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

N=${N:-100000}
K=${K:-1000}

command -v valgrind >/dev/null || scripts/apt-install.sh valgrind
command -v make >/dev/null || scripts/apt-install.sh make # libffi's bundled C build

echo "building the driver (release, debug info, --features libffi)..." >&2
driver=$(cargo build -q -p ffi-callback-benches --profile bench --features libffi \
  --bin overhead-driver --message-format=json |
  grep -o '"executable":"[^"]*overhead-driver"' | tail -n1 | cut -d'"' -f4)
[ -x "$driver" ] || { echo "driver not built" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Runs the driver under callgrind, collecting only inside functions
# matching $1; prints "Ir driver-output".
collect() {
  local pattern=$1
  shift
  local out
  out=$(LD_BIND_NOW=1 valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
    "--toggle-collect=$pattern" "$driver" "$@" 2>"$work/vg.err") || {
    cat "$work/vg.err" >&2
    exit 1
  }
  local ir
  ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$work/vg.err")
  echo "$ir $out"
}

field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<<"$2"; }

nm -C -S "$driver" | awk 'NF >= 4 && $3 ~ /^[tTwW]$/' >"$work/nm"
objdump -d --no-show-raw-insn -C "$driver" >"$work/asm"

# Size in bytes of the text symbols whose name matches the glob $1 (one per
# address).
symbol_bytes() {
  local glob=$1 total=0 addr size name seen=" "
  while read -r addr size _ name; do
    # shellcheck disable=SC2053 # $glob is a glob on purpose
    if [[ $name == $glob && $seen != *" $addr "* ]]; then
      total=$((total + 16#$size))
      seen+="$addr "
    fi
  done <"$work/nm"
  echo "$total"
}

# Size in bytes of the largest text symbol matching the glob $1: one
# instance of a trampoline (a generic one has an instance per closure type;
# here `sort` and `setup_teardown` make two, identical but for the closure).
largest_symbol_bytes() {
  local glob=$1 largest=0 size name
  while read -r _ size _ name; do
    # shellcheck disable=SC2053 # $glob is a glob on purpose
    if [[ $name == $glob ]] && ((16#$size > largest)); then
      largest=$((16#$size))
    fi
  done <"$work/nm"
  echo "$largest"
}

# Size in bytes of the text symbol at address $1 (hex, no 0x).
bytes_at() {
  local size
  size=$(awk -v a="$1" '{ x = $1; sub(/^0+/, "", x) } x == a { print $2; exit }' "$work/nm")
  echo $((16#${size:-0}))
}

# Bytes of the function named exactly $1 plus the local generic instances it
# calls or tail-calls directly (a resume_panics<closure>, run<...>, the
# runtime's generic functions such as a set's scope<..>): the code one call
# site adds.
call_site_bytes() {
  local fn=$1
  local total
  total=$(symbol_bytes "$fn")
  local addr callee
  while read -r addr callee; do
    case $callee in
    *resume_panics* | ffi_callback_benches::variants::* | ffi_callback::*)
      total=$((total + $(bytes_at "$addr")))
      ;;
    esac
  done < <(awk -v f="<$fn>:" '$2 == f { p = 1; next } p && /^$/ { exit } p' "$work/asm" |
    sed -n 's/.*\b\(call\|jmp\)  *\([0-9a-f]*\) <\([^>+]*\)>$/\2 \3/p' | sort -u)
  echo "$total"
}

mapfile -t variants < <("$driver" list)

echo "counting (N=$N values, K=$K setups; about $((${#variants[@]} * 3 + 2)) callgrind runs)..." >&2
declare -A sort_ir entry_ir setup_ir allocs setup_allocs
calls=
for line in "${variants[@]}"; do
  IFS=$'\t' read -r key _ module entry _ <<<"$line"
  r=$(collect 'ffi_callback_benches::c::*' sort "$key" "$N")
  sort_ir[$key]=${r%% *}
  allocs[$key]=$(field allocs "$r")
  c=$(field calls "$r")
  if [ -z "$calls" ]; then
    calls=$c
  elif [ "$c" != "$calls" ]; then
    echo "variant $key made $c comparator calls, not $calls" >&2
    exit 1
  fi
  if [ "$entry" != "-" ]; then
    r=$(collect "$entry" sort "$key" "$N")
    entry_ir[$key]=${r%% *}
  fi
  r=$(collect "$module::setup_teardown" setup "$key" "$K")
  setup_ir[$key]=${r%% *}
  setup_allocs[$key]=$(field allocs "$r")
done
base=$(collect 'ffi_callback_benches::variants::baseline::plain' setup base "$K")
base_ir=${base%% *}
base_r=$(collect 'ffi_callback_benches::variants::baseline::with_user_data' setup base_r "$K")
base_r_ir=${base_r%% *}

[ -n "${entry_ir[a]:-}" ] || { echo "the floor (a) has no entry symbol" >&2; exit 1; }
glibc=$((sort_ir[a] - entry_ir[a]))

per_call() { awk -v t="$1" -v g="$glibc" -v c="$calls" 'BEGIN { printf "%.2f", (t - g) / c }'; }

declare -A pc
for line in "${variants[@]}"; do
  IFS=$'\t' read -r key _ _ _ _ <<<"$line"
  pc[$key]=$(per_call "${sort_ir[$key]}")
done

rel() { # $1 - $2, signed, or "-" when either is missing
  [ -n "${2:-}" ] || { echo "-"; return; }
  awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; printf "%+.2f", d }'
}

echo
echo "glibc qsort_r, N=$N u32 (seed fixed), $calls comparator calls per sort;"
echo "glibc's own share: $glibc Ir ($(awk -v g="$glibc" -v c="$calls" 'BEGIN { printf "%.2f", g / c }') per comparator call, excluded below)."
echo
# Each #[callback] row's hand-written twin (the same body written by hand
# with catch_unwind), and DESIGN.md's limit over it: the fn form and a set's
# entry point at most 3 more, a callback type at most 2. A `Result` row's
# twin is the hand-written code that relays the error too ((c'r), (cr)):
# what DESIGN measures against is "the hand-written equivalent", and
# looking at the `Result` costs the hand-written code as much.
declare -A twin=([g]=c1 [gt]=c1t [j]=c1r [l]=c1 [l1]=c1 [h]=c [i]=c [k]=cr [m]=c [n]=c [o]=c)
declare -A limit_of=([g]=c1 [gt]=c1t [j]=c1r [l]=c1 [l1]=c1 [h]=c [i]=c [k]=cr [o]=c)
declare -A limit_add=([c1]=3 [c1t]=3 [c1r]=3 [c]=2 [cr]=2)
label() { local l=${1/1/\'}; echo "$l"; }
limit() { # key: "≤ N: met" / "≤ N: missed by D" / "-"
  local key=$1 base
  base=${limit_of[$key]:-}
  [ -n "$base" ] && [ -n "${pc[$base]:-}" ] || { echo "-"; return; }
  awk -v x="${pc[$key]}" -v b="${pc[$base]}" -v a="${limit_add[$base]}" -v l="$(label "$base")" \
    'BEGIN { m = b + a; if (x <= m + 0.005) printf "(%s)+%d = %.2f: met", l, a, m;
             else printf "(%s)+%d = %.2f: **missed by %.2f**", l, a, m, x - m }'
}

echo "| | variant | Ir/call | vs (c') | vs (c) | vs twin | DESIGN limit | entry Ir/call | setup+teardown Ir | Rust allocs (sort / setup) | trampoline bytes | call-site bytes |"
echo "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"
for line in "${variants[@]}"; do
  IFS=$'\t' read -r key r module entry name <<<"$line"
  if [ "$entry" != "-" ]; then
    eic=$(awk -v t="${entry_ir[$key]}" -v c="$calls" 'BEGIN { printf "%.2f", t / c }')
    tb=$(largest_symbol_bytes "$entry")
  else
    eic="-"
    tb="-"
  fi
  if [ "$r" = r ]; then b=$base_r_ir; else b=$base_ir; fi
  st=$(awk -v s="${setup_ir[$key]}" -v b="$b" -v k="$K" 'BEGIN { printf "%.1f", (s - b) / k }')
  tw=${twin[$key]:-}
  if [ -n "$tw" ]; then vt="$(rel "${pc[$key]}" "${pc[$tw]:-}") ($(label "$tw"))"; else vt="-"; fi
  cs=$(call_site_bytes "$module::setup_teardown")
  echo "| ($(label "$key")) | $name | ${pc[$key]} | $(rel "${pc[$key]}" "${pc[c1]:-}") | $(rel "${pc[$key]}" "${pc[c]:-}") | $vt | $(limit "$key") | $eic | $st | ${allocs[$key]} / $(awk -v a="${setup_allocs[$key]}" -v k="$K" 'BEGIN { printf "%g", a / k }') | $tb | $cs |"
done
echo
echo "The ffi_callback runtime's out-of-line code in this binary (\"N instances\": generic, an instance per"
echo "callback type, closure or policy; the others once per program):"
echo
echo "| symbol | bytes |"
echo "|---|---:|"
awk '$4 ~ /^(ffi_callback::|<ffi_callback::)/ { sub(/^[^ ]+ [^ ]+ [^ ]+ /, ""); print }' "$work/nm" |
  sort | uniq -c | while read -r count name; do
  echo "| \`$name\`$([ "$count" -gt 1 ] && echo " ($count instances)") | $(symbol_bytes "$name") |"
done

if [ -n "${pc[e]:-}" ]; then
  echo
  for key in g h i j k l; do
    [ -n "${pc[$key]:-}" ] || continue
    awk -v e="${pc[e]}" -v x="${pc[$key]}" -v k="$key" 'BEGIN { printf "libffi (e) / (%s): %.1fx\n", k, e / x }'
  done
fi
echo
echo "(script run time: $((SECONDS - started)) s)"

regressions=0
for line in "${variants[@]}"; do
  IFS=$'\t' read -r key _ _ _ name <<<"$line"
  case "$name" in *"#[callback"*) ;; *) continue ;; esac
  # The sort builds the callback once too: what its setup allocates (a
  # boxed state, (l')) is allowed; anything more comes from the calls.
  if awk -v s="${allocs[$key]}" -v a="${setup_allocs[$key]}" -v k="$K" 'BEGIN { exit !(s > a / k) }'; then
    echo "instructions: FAIL: ($(label "$key")) $name allocates in its calls (${allocs[$key]} in the sort, $(awk -v a="${setup_allocs[$key]}" -v k="$K" 'BEGIN { printf "%g", a / k }') in a setup)" >&2
    regressions=$((regressions + 1))
  fi
done
for key in g gt j; do
  [ -n "${pc[$key]:-}" ] || continue
  verdict=$(limit "$key")
  case "$verdict" in *": met") ;; *)
    echo "instructions: FAIL: ($(label "$key")) misses DESIGN's limit: $verdict" >&2
    regressions=$((regressions + 1))
    ;;
  esac
done
[ "$regressions" -eq 0 ] || exit 1
