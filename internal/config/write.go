package config

import (
	"bytes"
	"fmt"

	"github.com/google/renameio/v2"
	"go.yaml.in/yaml/v3"
)

// Marshal encodes c as a config file, after header (comment lines, each
// starting with "# "), and checks that the result parses back to a valid
// config.
func Marshal(c Config, header string) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encoding config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding config: %w", err)
	}
	if _, err := Parse(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("generated config is invalid: %w", err)
	}
	return append([]byte(header), buf.Bytes()...), nil
}

// Write writes c as a config file at path, mode 0644, atomically (a
// temporary file, fsync, rename): a reader sees the old file or the whole
// new one, never a part.
func Write(path string, c Config, header string) error {
	b, err := Marshal(c, header)
	if err != nil {
		return err
	}
	if err := renameio.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("writing config %s: %w", path, err)
	}
	return nil
}
