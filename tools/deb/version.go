package main

import (
	"fmt"
	"regexp"
	"time"
)

var (
	tagRE  = regexp.MustCompile(`^v([0-9][0-9A-Za-z.~]*)(?:-([0-9]+)-g([0-9a-f]+))?(-dirty)?$`)
	hashRE = regexp.MustCompile(`^([0-9a-f]{4,40})(-dirty)?$`)
)

// DebVersion turns `git describe --tags --always --dirty` into a Debian
// version that grows with the history: a tag v1.2.3 (tags start with "v",
// so that an all-digit hash is not taken for one) is 1.2.3, four commits
// after it 1.2.3+4.g<hash>; without any tag the commit time (t) leads,
// 0~git<YYYYMMDDhhmmss>.g<hash>, so that a later commit is a newer package
// and any tagged release newer still. A dirty tree adds "dirty".
func DebVersion(describe string, t time.Time) (string, error) {
	if m := tagRE.FindStringSubmatch(describe); m != nil {
		v := m[1]
		sep := "+"
		if m[2] != "" {
			v += "+" + m[2] + ".g" + m[3]
			sep = "."
		}
		if m[4] != "" {
			v += sep + "dirty"
		}
		return v, nil
	}
	if m := hashRE.FindStringSubmatch(describe); m != nil {
		v := "0~git" + t.UTC().Format("20060102150405") + ".g" + m[1]
		if m[2] != "" {
			v += ".dirty"
		}
		return v, nil
	}
	return "", fmt.Errorf("version: %q is neither a tag (v1.2.3[-N-gHASH][-dirty]) nor a commit hash; pass -version", describe)
}
