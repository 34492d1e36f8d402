package lab

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/devmgr/devmgr/internal/config"
)

// WriteConfig writes c as a devmgr config file at path (mode 0644, via a
// temporary file and rename), after checking that the file parses back to
// a valid config: what `make run` and `devmgr-lab up --config-out` give the
// agent and the console.
func WriteConfig(path string, c config.Config) error {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return fmt.Errorf("encoding config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encoding config: %w", err)
	}
	b := buf.Bytes()
	if _, err := config.Parse(b); err != nil {
		return fmt.Errorf("generated config is invalid: %w", err)
	}
	b = append([]byte("# Generated for the network-namespace lab; rewritten on every start.\n"), b...)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*")
	if err != nil {
		return fmt.Errorf("writing config: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing config: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing config: %w", err)
	}
	return nil
}
