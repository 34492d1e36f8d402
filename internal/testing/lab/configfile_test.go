package lab

import (
	"path/filepath"
	"testing"

	"github.com/devmgr/devmgr/internal/config"
)

// The lab's config is one that devmgr accepts: what `make run` writes.
func TestConfigIsValid(t *testing.T) {
	dir := t.TempDir()
	c := (&Lab{}).Config(filepath.Join(dir, "data"))
	c.Web.Listen = "127.0.0.1:8443"
	c.Agent.Socket = filepath.Join(dir, "run", "agent.sock")
	if _, err := config.Marshal(c, ""); err != nil {
		t.Fatal(err)
	}
}
