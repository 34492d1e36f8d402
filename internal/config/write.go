package config

import (
	"bytes"
	"fmt"
	"os"
	"syscall"

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

// WriteKeeping is Write keeping the mode, owner and group of the file it
// replaces (on a device root:web.user 0640: the config holds the AP
// passphrase); a new file is 0600.
func WriteKeeping(path string, c Config, header string) error {
	b, err := Marshal(c, header)
	if err != nil {
		return err
	}
	return WriteFileKeeping(path, b)
}

// WriteFileKeeping writes the config file's bytes b at path as
// WriteKeeping does: atomically, keeping the mode, owner and group of the
// file it replaces; a new file is 0600. b is written as it is: the
// caller has checked it.
func WriteFileKeeping(path string, b []byte) error {
	mode, uid, gid := os.FileMode(0o600), -1, -1
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(sys.Uid), int(sys.Gid)
		}
	}
	pf, err := renameio.NewPendingFile(path, renameio.WithPermissions(mode), renameio.WithStaticPermissions(mode))
	if err != nil {
		return fmt.Errorf("writing config %s: %w", path, err)
	}
	defer pf.Cleanup()
	if _, err := pf.Write(b); err != nil {
		return fmt.Errorf("writing config %s: %w", path, err)
	}
	if uid >= 0 && os.Geteuid() == 0 {
		if err := pf.Chown(uid, gid); err != nil {
			return fmt.Errorf("writing config %s: %w", path, err)
		}
	}
	if err := pf.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("writing config %s: %w", path, err)
	}
	return nil
}
