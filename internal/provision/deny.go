package provision

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/devmgr/devmgr/internal/device"
)

// InstalledDenyList reads the MAC addresses of the deny list installed
// under root ("" is "/"), so that provisioning again keeps the stations the
// console has refused. A missing file is an empty list.
func InstalledDenyList(root string) ([]string, error) {
	if root == "" {
		root = "/"
	}
	p := filepath.Join(root, device.HostapdDeny)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading deny list: %w", err)
	}
	macs := []string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		// hostapd allows a VLAN ID after the address.
		macs = append(macs, strings.Fields(l)[0])
	}
	return macs, sc.Err()
}
