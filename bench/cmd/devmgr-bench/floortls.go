package main

// The TLS floor: the floor's answers (the same bytes) written by a loop
// over crypto/tls alone, without net/http: it reads a request's line and
// header, and writes the answer's status line, header, Date and body in
// one write. No timeouts, no header map, no goroutine but the
// connection's: what is left of a Go HTTPS answer when net/http's work is
// taken away. Between it and the floor is net/http's own cost per
// request; a console under that cost would need an HTTP server of its own.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// serveTLSFloorArg, as devmgr-bench's first argument, followed by the
// address and the directory of the pair and bodies, runs the TLS floor.
const serveTLSFloorArg = "-serve-floor-tls"

// maxRequestHead bounds a request's line and header, as the console's
// MaxHeaderBytes does.
const maxRequestHead = 64 << 10

// serveTLSFloor is devmgr-bench -serve-floor-tls ADDR DIR: the floor's
// answers from DIR (loadFloor) served over crypto/tls with DIR's pair,
// HTTP/1.1 only, until SIGTERM or SIGINT.
func serveTLSFloor(args []string) error {
	ln, tc, answers, err := floorSetup(serveTLSFloorArg, args)
	if err != nil {
		return err
	}
	tc.NextProtos = []string{"http/1.1"}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return serveTLSOn(ctx, ln, tc, rawAnswers(answers))
}

// serveTLSOn serves answers on ln over TLS with tc until ctx ends, then
// closes ln and every connection and returns once their loops ended.
func serveTLSOn(ctx context.Context, ln net.Listener, tc *tls.Config, answers map[string]rawAnswer) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		conns.Go(func() {
			conn := tls.Server(c, tc)
			defer conn.Close()
			stopConn := context.AfterFunc(ctx, func() { conn.Close() })
			defer stopConn()
			serveRaw(conn, conn, answers)
		})
	}
}

// rawAnswer is a floor answer as written on the wire: head is its status
// line and header but Date (net/http's order: sorted), which is written
// with each answer.
type rawAnswer struct {
	head, body []byte
}

var notFound = rawAnswer{head: []byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n")}

// rawAnswers renders answers for serveRaw, each with its body's length
// whatever its captured header said.
func rawAnswers(answers map[string]floorAnswer) map[string]rawAnswer {
	out := map[string]rawAnswer{}
	for path, a := range answers {
		h := a.header.Clone()
		h.Set("Content-Length", strconv.Itoa(len(a.body)))
		h.Del("Transfer-Encoding")
		var b bytes.Buffer
		b.WriteString("HTTP/1.1 200 OK\r\n")
		h.Write(&b)
		out[path] = rawAnswer{b.Bytes(), a.body}
	}
	return out
}

// serveRaw answers the GET and HEAD requests read from r on w, each with
// its path's answer (404 elsewhere), until the client closes, a request
// has a body or another method, or its head exceeds maxRequestHead.
func serveRaw(r io.Reader, w io.Writer, answers map[string]rawAnswer) {
	br := bufio.NewReaderSize(r, 4<<10)
	var out []byte
	for {
		method, path, err := readRequestHead(br)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				io.WriteString(w, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
			}
			return
		}
		if method != http.MethodGet && method != http.MethodHead {
			io.WriteString(w, "HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
			return
		}
		a, ok := answers[path]
		if !ok {
			a = notFound
		}
		out = append(out[:0], a.head...)
		out = append(out, "Date: "...)
		out = time.Now().UTC().AppendFormat(out, http.TimeFormat)
		out = append(out, "\r\n\r\n"...)
		if method == http.MethodGet {
			out = append(out, a.body...)
		}
		if _, err := w.Write(out); err != nil {
			return
		}
	}
}

var errBadRequest = errors.New("malformed request")

// readRequestHead reads a request's line and header from br, and gives
// its method and path. A request with a body is refused (errBadRequest):
// the floor answers reads.
func readRequestHead(br *bufio.Reader) (method, path string, err error) {
	n := 0
	for first := true; ; first = false {
		line, err := br.ReadSlice('\n')
		n += len(line)
		if errors.Is(err, bufio.ErrBufferFull) || n > maxRequestHead {
			return "", "", errBadRequest
		}
		if err != nil {
			if first && len(line) == 0 {
				return "", "", io.EOF
			}
			return "", "", errBadRequest
		}
		line = bytes.TrimRight(line, "\r\n")
		if first {
			m, rest, ok1 := bytes.Cut(line, []byte(" "))
			p, proto, ok2 := bytes.Cut(rest, []byte(" "))
			if !ok1 || !ok2 || string(proto) != "HTTP/1.1" || len(p) == 0 || p[0] != '/' {
				return "", "", errBadRequest
			}
			method, path = string(m), string(p)
			continue
		}
		if len(line) == 0 {
			return method, path, nil
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return "", "", errBadRequest
		}
		if (bytes.EqualFold(k, []byte("Content-Length")) && string(bytes.TrimSpace(v)) != "0") ||
			bytes.EqualFold(k, []byte("Transfer-Encoding")) {
			return "", "", errBadRequest
		}
	}
}
