package devrun

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestCheckListen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = checkListen(ln.Addr().String())
	if err == nil {
		t.Fatal("a taken port was reported free")
	}
	if !strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())) || !strings.Contains(err.Error(), "PORT=") {
		t.Errorf("error %q does not name this process and how to choose a port", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := checkListen(addr); err != nil {
		t.Errorf("a free port: %v", err)
	}
}
