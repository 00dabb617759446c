#!/usr/bin/env bash
# Runs `LUA BUSTED ARGS...` (the busted suite: `make test-asan` and `make
# test-valgrind` run `make test` with LUA set to this script) under
# AddressSanitizer + UBSan or under valgrind memcheck.  Afterwards it says
# what the tool found and ends with busted's summary line again, adjusted: a
# sanitizer or memcheck report counts as one more failure, and so does a
# non-zero exit that busted's own count does not explain (a crash, or a
# report at exit after the summary was printed).  Exits non-zero on either.
#
#   bash spec/support/checked_lua.sh asan|valgrind LUA BUSTED [ARGS...]
#
# asan:     bpfmap.core from build/asan/ (clang -fsanitize=address,undefined
#           -fno-sanitize-recover=all -shared-libasan).  lua5.4 is not
#           instrumented, so the ASan runtime ($BPFMAP_ASAN_RT, clang's
#           shared one, which holds the UBSan handlers too) is
#           LD_PRELOADed.  Every child the specs start inherits it and the
#           options below, so reports from the lua5.4 children (examples,
#           unprivileged runs) count too.  Reports go to files (log_path)
#           rather than stderr, so none can be swallowed by a spec that
#           captures or discards a child's output.  Leak detection is
#           off: it would run in every process that inherits the preload,
#           and the tools the specs start are not bpfmap's to fix (sed,
#           run by luarocks' lua-any launcher, leaks a byte and would exit
#           1); leaks are memcheck's job.
# valgrind: memcheck on the lua5.4 process that runs the specs (children
#           are not traced), with the normal build/bpfmap/core.so,
#           spec/support/valgrind.supp, and build/valgrind/vg_bpf_defined.so
#           preloaded (see spec/support/vg_bpf_defined.c).  Needs busted's
#           --ignore-lua, or busted would re-exec itself outside valgrind.
#           The specs spec/support/valgrind.exclude names (valgrind itself
#           makes their assertions false) are left out, counted as skipped.
#
# Both run the suite in a mount namespace of its own where they can
# (root, unshare(1)): a sanitizer aborts the process on its first report,
# so the spec that was running never unmounts its private bpffs, and the
# BPF object pinned there would stay loaded, confusing later runs (specs
# that find maps by discovery see two).  When the namespace's last process
# exits, its mounts go, and with them those pins.
set -uo pipefail

mode=${1:?usage: checked_lua.sh asan|valgrind LUA BUSTED [ARGS...]}
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
found=""	# what the tool reported, in one line; empty when clean
ns=()
if [ "$(id -u)" = 0 ] && unshare --mount --propagation private true 2>/dev/null; then
	ns=(unshare --mount --propagation private --)
fi

case $mode in
asan)
	rt=${BPFMAP_ASAN_RT:-$(clang -print-file-name="libclang_rt.asan-$(uname -m).so")}
	core=$root/build/asan/bpfmap/core.so
	if [ ! -f "$rt" ] || [ ! -f "$core" ]; then
		echo "checked_lua: need the ASan runtime ($rt) and $core (make test-asan builds it)" >&2
		echo "0 passed, 1 failed, 0 skipped"
		exit 1
	fi
	unset LUA_PATH_5_4 LUA_CPATH_5_4	# they would take precedence
	export LUA_CPATH="$root/build/asan/?.so;${LUA_CPATH:-;;}"
	# a run that silently loaded the uninstrumented module would prove nothing
	loaded=$(LD_PRELOAD=$rt ASAN_OPTIONS=detect_leaks=0 "$1" -e \
		'io.write(package.searchpath("bpfmap.core", package.cpath) or "nothing")')
	if [ "$loaded" != "$core" ]; then
		echo "checked_lua: require 'bpfmap.core' would load $loaded, not $core" >&2
		echo "0 passed, 1 failed, 0 skipped"
		exit 1
	fi
	mkdir -p "$root/build/asan"
	logs=$(mktemp -d "$root/build/asan/reports.XXXXXX")
	chmod 1777 "$logs"	# the unprivileged child (uid nobody) logs here too
	export LD_PRELOAD="$rt${LD_PRELOAD:+ $LD_PRELOAD}"
	export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:detect_stack_use_after_return=1:log_path=$logs/asan"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"	# log_path: ASan's
	echo "checked_lua: ASan+UBSan, bpfmap.core from $core, LD_PRELOAD=$rt"
	"${ns[@]}" "$@" | tee "$out"
	status=${PIPESTATUS[0]}
	unset LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS
	n=$(find "$logs" -type f | wc -l)
	if [ "$n" -gt 0 ]; then
		echo
		for f in "$logs"/*; do
			echo "---- $f"
			cat "$f"
		done
		found="$n sanitizer report(s), kept in $logs"
	else
		rmdir "$logs"
		echo "checked_lua: no AddressSanitizer or UBSan report"
	fi
	;;
valgrind)
	shim=$root/build/valgrind/vg_bpf_defined.so
	supp=$root/spec/support/valgrind.supp
	if [ ! -f "$shim" ]; then
		echo "checked_lua: need $shim (make test-valgrind builds it)" >&2
		echo "0 passed, 1 failed, 0 skipped"
		exit 1
	fi
	# specs valgrind itself makes fail: left out, and counted as skipped
	filters=()
	while IFS= read -r line; do
		case $line in '' | '#'*) continue ;; esac
		filters+=("--filter-out=$line")
	done < "$root/spec/support/valgrind.exclude"
	listed() { "$@" --list | grep -ac '^[^:]*:[0-9]*: '; }
	all=$(listed "$@")
	kept=$(listed "${@:1:2}" "${filters[@]}" "${@:3}")
	left_out=$((all - kept))
	mkdir -p "$root/build/valgrind"
	log=$(mktemp "$root/build/valgrind/memcheck.XXXXXX.log")
	echo "checked_lua: valgrind memcheck on $1, log $log"
	echo "checked_lua: leaving out $left_out of $all specs (spec/support/valgrind.exclude)"
	LD_PRELOAD="$shim${LD_PRELOAD:+ $LD_PRELOAD}" "${ns[@]}" \
	valgrind --tool=memcheck --error-exitcode=99 \
		--leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
		--track-origins=yes --num-callers=40 --child-silent-after-fork=yes \
		--suppressions="$supp" --log-file="$log" \
		"${@:1:2}" "${filters[@]}" "${@:3}" | tee "$out"
	status=${PIPESTATUS[0]}
	errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -n 1)
	if [ "${errors:-x}" != 0 ]; then
		echo
		cat "$log"
		if [ -n "$errors" ]; then
			found="memcheck reported $errors error(s), log kept in $log"
		else
			found="memcheck wrote no ERROR SUMMARY, log kept in $log"
		fi
	else
		grep -E 'definitely lost|ERROR SUMMARY|All heap blocks' "$log" | sed 's/^==[0-9]*== */checked_lua: memcheck: /'
		rm -f "$log"
	fi
	;;
*)
	echo "checked_lua: unknown mode '$mode' (asan or valgrind)" >&2
	exit 2
	;;
esac

summary=$(grep -aE '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
read -r passed failed skipped < <(echo "$summary" |
	sed -nE 's/^([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?.*/\1 \2 \4/p')
passed=${passed:-0} failed=${failed:-0} skipped=${skipped:-0}
if [ "${left_out:-0}" -gt 0 ]; then
	echo "checked_lua: $left_out spec(s) left out under valgrind, counted as skipped"
	skipped=$((skipped + left_out))
fi
[ -n "$summary" ] || echo "checked_lua: busted printed no summary (exit $status)"
if [ -n "$found" ]; then
	echo "checked_lua: FAILED: $found"
	failed=$((failed + 1))
elif [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
	echo "checked_lua: FAILED: exit $status with no failing spec"
	failed=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
