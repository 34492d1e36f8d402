package testutil

import (
	"os"
	"strconv"
	"strings"
)

// ProcessEnded reports whether pid has ended: there is no such process, or
// it is a zombie that only waits for its parent (init) to reap it.
func ProcessEnded(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z")
}
