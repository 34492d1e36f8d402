# Helpers of the payload's scripts.

# say: a progress line with the VM's uptime.
say() { echo "freshvm: [$(cut -d' ' -f1 /proc/uptime)] $*"; }
# pass NAME [NOTE], fail NAME REASON: the result lines the host reads.
pass() {
	local case_name=$1
	shift
	echo "CASE $case_name PASS${*:+ ($*)}"
}
fail() {
	local case_name=$1
	shift
	echo "CASE $case_name FAIL: $*"
}
# now_ms, since, wait_for, show: the VM tests' shared helpers.
. /mnt/payload/vm-lib.sh

# apt_logged LOG CMD...: run an apt command, its output in LOG and, with
# the uptime, on the results port as it comes; CMD's exit status.
apt_logged() {
	log=$1
	shift
	("$@"; echo "exit $?" >"$log.rc") 2>&1 | tee "$log" |
		while IFS= read -r l; do echo "  apt [$(cut -d' ' -f1 /proc/uptime)] $l"; done
	[ "$(cat "$log.rc")" = "exit 0" ]
}
