package setup

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// TerminalSecret returns a ReadSecret for Prompter that reads a line from
// the terminal f with echo off, restoring the terminal afterwards. in must
// be the reader of f that the other questions use, so that no typed-ahead
// input is lost between them.
func TerminalSecret(f *os.File, in *bufio.Reader) func() (string, error) {
	return func() (string, error) {
		fd := int(f.Fd())
		old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil {
			return "", fmt.Errorf("reading the terminal's settings: %w", err)
		}
		quiet := *old
		quiet.Lflag &^= unix.ECHO
		if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
			return "", fmt.Errorf("turning the terminal's echo off: %w", err)
		}
		defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
		s, err := in.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("reading passphrase: %w", err)
		}
		return strings.TrimRight(s, "\r\n"), nil
	}
}
