#!/bin/sh
# bench/peers/bpftool.sh: the bpftool peer, as a shell script would use it:
# one bpftool process per operation.
#
#   bpftool.sh update|lookup PIN COUNT   COUNT single-element ops, u32 keys
#                                        cycling over 0..1023, u64 values
#   bpftool.sh dump PIN                  one `bpftool map dump` of the map
#   bpftool.sh store ID OFFSET SIZE COUNT
#                                        set a u32 at OFFSET of key 0 of an
#                                        array map of SIZE-byte values, COUNT
#                                        times: bpftool has no notion of a
#                                        global's name, so the script computes
#                                        the whole value's bytes by hand (zeros
#                                        but the u32) and rewrites all of it
#
# Prints one line, "bpftool_<mode>_us <microseconds per op or element>",
# measured around the loop with date +%s%N (the clock's resolution is far
# below one bpftool run).
set -eu

le32() { # the 4 little-endian bytes of $1, as bpftool's hex words
	printf '%02x %02x %02x %02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255))
}

mode=${1:?usage: bpftool.sh update|lookup|dump|store ...}
case $mode in
update | lookup)
	pin=$2 count=$3
	t0=$(date +%s%N)
	i=0
	while [ "$i" -lt "$count" ]; do
		k=$(le32 $((i % 1024)))
		if [ "$mode" = update ]; then
			bpftool map update pinned "$pin" key hex $k value hex $(le32 "$i") 00 00 00 00
		else
			bpftool map lookup pinned "$pin" key hex $k >/dev/null
		fi
		i=$((i + 1))
	done
	t1=$(date +%s%N)
	echo "bpftool_${mode}_us $(((t1 - t0) / count / 1000))"
	;;
dump)
	pin=$2
	out=$(mktemp /tmp/bpfmapt_bch-dump.XXXXXX)
	t0=$(date +%s%N)
	bpftool map dump pinned "$pin" >"$out"
	t1=$(date +%s%N)
	n=$(grep -c '^key:' "$out" || true)
	rm -f "$out"
	[ "$n" -gt 0 ] || { echo "bpftool.sh: dump of $pin read no element" >&2; exit 1; }
	# nanoseconds per element, printed as microseconds with 3 decimals
	per=$(((t1 - t0) / n))
	printf 'bpftool_dump_us %d.%03d\n' $((per / 1000)) $((per % 1000))
	;;
store)
	id=$2 offset=$3 size=$4 count=$5
	# the zero bytes around the u32, computed once
	before="" after=""
	b=0
	while [ "$b" -lt "$offset" ]; do before="$before 00"; b=$((b + 1)); done
	b=$((offset + 4))
	while [ "$b" -lt "$size" ]; do after="$after 00"; b=$((b + 1)); done
	t0=$(date +%s%N)
	i=0
	while [ "$i" -lt "$count" ]; do
		bpftool map update id "$id" key hex 00 00 00 00 value hex $before $(le32 "$i") $after
		i=$((i + 1))
	done
	t1=$(date +%s%N)
	echo "bpftool_store_us $(((t1 - t0) / count / 1000))"
	;;
*)
	echo "bpftool.sh: unknown mode $mode" >&2
	exit 2
	;;
esac
