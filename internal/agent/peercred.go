package agent

import (
	"context"
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// credListener records each connection's peer credentials (SO_PEERCRED) at
// accept time, before a byte is read from it.
type credListener struct {
	*net.UnixListener
}

type credConn struct {
	*net.UnixConn
	cred *unix.Ucred
	err  error
}

func (l credListener) Accept() (net.Conn, error) {
	c, err := l.AcceptUnix()
	if err != nil {
		return nil, err
	}
	cred, err := peerCred(c)
	return &credConn{UnixConn: c, cred: cred, err: err}, nil
}

func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("reading peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, fmt.Errorf("reading peer credentials: %w", err)
	}
	if cerr != nil {
		return nil, fmt.Errorf("reading peer credentials: %w", cerr)
	}
	return cred, nil
}

type credKey struct{}

type peer struct {
	cred *unix.Ucred
	err  error
}

// connContext puts the connection's credentials into every request's context.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if cc, ok := c.(*credConn); ok {
		return context.WithValue(ctx, credKey{}, peer{cred: cc.cred, err: cc.err})
	}
	return context.WithValue(ctx, credKey{}, peer{err: errors.New("not a unix socket connection")})
}

func peerFrom(ctx context.Context) peer {
	p, ok := ctx.Value(credKey{}).(peer)
	if !ok {
		return peer{err: errors.New("no peer credentials")}
	}
	return p
}
