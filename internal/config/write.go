package config

import (
	"bytes"
	"fmt"
	"os"

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
	return write(path, c, header, 0o644)
}

// WritePrivate is Write for a device's config, which holds the AP
// passphrase: a new file is made 0600 (provision then shares it with the
// console's group); a file that exists keeps its mode.
func WritePrivate(path string, c Config, header string) error {
	return write(path, c, header, 0o600)
}

func write(path string, c Config, header string, mode os.FileMode) error {
	b, err := Marshal(c, header)
	if err != nil {
		return err
	}
	if err := renameio.WriteFile(path, b, mode); err != nil {
		return fmt.Errorf("writing config %s: %w", path, err)
	}
	return nil
}
