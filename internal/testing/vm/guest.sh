# Shell helpers of the VM tests' guests (busybox ash and dash), sourced by
# wifivm's /init and freshvm's checks.

# now_ms: uptime in milliseconds.
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
# since MS: seconds since now_ms gave MS, with one decimal.
since() { awk -v s="$1" -v n="$(now_ms)" 'BEGIN { printf "%.1f\n", (n - s) / 1000 }'; }

# wait_for SECONDS CMD...: run CMD about every 0.2 s until it succeeds or
# SECONDS of uptime (not of loop turns: each turn is slow under emulation)
# pass.
wait_for() {
	end=$(($(now_ms) + $1 * 1000))
	shift
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.2
	done
}

# show FILE [N]: the last N (15) lines of a log, indented, after a failure.
show() {
	[ -s "$1" ] || return 0
	echo "  --- $1"
	tail -n "${2:-15}" "$1" | sed 's/^/  | /'
}
