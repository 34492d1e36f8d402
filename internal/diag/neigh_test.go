package diag

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

func TestNeighbors(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip", "ping")
	l := lab.NewT(t, lab.Options{NoServers: true})
	if out, err := l.Exec(context.Background(), lab.Client1, "ping", "-n", "-c", "1", "-W", "2", "192.0.2.12"); err != nil {
		t.Fatalf("ping client 2: %v\n%s", err, out)
	}
	ns, err := Neighbors(l.Handle(lab.Client1))
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, n := range ns {
		if n.IP == "192.0.2.12" {
			found = true
			if n.Interface != "wlan0" || n.MAC == "" || n.State == "" || n.State == "failed" {
				t.Errorf("neighbour %+v", n)
			}
		}
	}
	if !found {
		t.Errorf("neighbours %+v: no 192.0.2.12", ns)
	}
}

func TestLeases(t *testing.T) {
	dir := t.TempDir()
	ls, err := Leases(filepath.Join(dir, "missing"))
	if err != nil || ls == nil || len(ls) != 0 {
		t.Errorf("missing file: %v, %v; want an empty list", ls, err)
	}
	p := filepath.Join(dir, "leases")
	writeFile(t, p, "1767225600 aa:bb:cc:dd:ee:ff 192.168.4.5 phone 01:aa:bb:cc:dd:ee:ff\n0 11:22:33:44:55:66 192.168.4.6 * *\n")
	ls, err = Leases(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].IP != "192.168.4.5" || ls[0].Hostname != "phone" || !ls[1].Infinite() {
		t.Errorf("leases %+v", ls)
	}
}
