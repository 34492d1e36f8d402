package diag

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/devmgr/devmgr/internal/agent/api"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// DNS record types a lookup may ask for.
var dnsTypes = map[string]dnsmessage.Type{
	"A": dnsmessage.TypeA, "AAAA": dnsmessage.TypeAAAA, "MX": dnsmessage.TypeMX, "TXT": dnsmessage.TypeTXT,
	"NS": dnsmessage.TypeNS, "PTR": dnsmessage.TypePTR, "CNAME": dnsmessage.TypeCNAME,
}

// DNSTypes lists the record types in the order the page offers them: the
// API's.
var DNSTypes = api.DNSTypes

// DNSRequest is POST /v1/diag/dns.
type DNSRequest struct {
	Name   string `json:"name"`
	Type   string `json:"type,omitempty"`   // A (default), AAAA, MX, TXT, NS, PTR, CNAME
	Server string `json:"server,omitempty"` // IP address; "": the first nameserver of resolv.conf
}

// Validate checks the request, upper-cases the type and fills in A.
func (r *DNSRequest) Validate() error {
	r.Type = strings.ToUpper(strings.TrimSpace(r.Type))
	if r.Type == "" {
		r.Type = "A"
	}
	if _, ok := dnsTypes[r.Type]; !ok {
		return fieldErr("type", "must be one of %s.", strings.Join(DNSTypes, ", "))
	}
	if r.Name == "" {
		return fieldErr("name", "is required: a name such as example.com, or an IP address with type PTR.")
	}
	if strings.HasPrefix(r.Name, "-") {
		return fieldErr("name", "must not start with -.")
	}
	if a, err := netip.ParseAddr(r.Name); err == nil {
		if r.Type != "PTR" {
			return fieldErr("name", "is an IP address: choose type PTR to look up its name.")
		}
		if a.Zone() != "" {
			return fieldErr("name", "must not have a zone such as %%eth0.")
		}
	} else if r.Name != "." {
		if err := checkName("name", r.Name, true); err != nil {
			return err
		}
	}
	if r.Server != "" {
		a, err := netip.ParseAddr(r.Server)
		if err != nil || a.Zone() != "" {
			return fieldErr("server", "must be an IP address, such as 192.0.2.53, or left empty.")
		}
		if a.IsUnspecified() || a.IsMulticast() {
			return fieldErr("server", "must be the address of one host: %s is not.", r.Server)
		}
	}
	return nil
}

// DNSAnswer is one record of an answer.
type DNSAnswer struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	TTL   uint32 `json:"ttl"`
	Value string `json:"value"`
}

// DNSResult is the outcome of a lookup. A lookup that got no reply is a
// result too: Error says why.
type DNSResult struct {
	Server        string      `json:"server"` // ip:port asked
	Name          string      `json:"name"`   // the query name, fully qualified
	Type          string      `json:"type"`
	RCode         string      `json:"rcode,omitempty"` // NOERROR, NXDOMAIN, SERVFAIL, ...
	Authoritative bool        `json:"authoritative"`
	Answers       []DNSAnswer `json:"answers"`
	DurationMS    int64       `json:"duration_ms"`
	Error         string      `json:"error,omitempty"`
}

// Resolver asks one DNS server; the zero value uses /etc/resolv.conf,
// port 53 and a 3 s timeout per try (two tries).
type Resolver struct {
	ResolvConf string        // default /etc/resolv.conf
	Port       int           // default 53 (tests use another)
	Timeout    time.Duration // per try; default 3s
}

// Lookup validates r and asks the server for the records.
func (res Resolver) Lookup(ctx context.Context, r DNSRequest) (DNSResult, error) {
	if err := r.Validate(); err != nil {
		return DNSResult{}, err
	}
	server := r.Server
	if server == "" {
		server = res.defaultServer()
	}
	port := res.Port
	if port == 0 {
		port = 53
	}
	timeout := res.Timeout
	if timeout == 0 {
		timeout = 3 * time.Second
	}
	qname := r.Name
	if a, err := netip.ParseAddr(r.Name); err == nil {
		qname = reverseName(a)
	}
	if !strings.HasSuffix(qname, ".") {
		qname += "."
	}
	out := DNSResult{Server: net.JoinHostPort(server, strconv.Itoa(port)), Name: qname, Type: r.Type, Answers: []DNSAnswer{}}
	name, err := dnsmessage.NewName(qname)
	if err != nil {
		return DNSResult{}, fieldErr("name", "cannot be asked for in a DNS query (%v).", err)
	}
	q := dnsmessage.Question{Name: name, Type: dnsTypes[r.Type], Class: dnsmessage.ClassINET}
	start := time.Now()
	msg, err := exchange(ctx, out.Server, q, timeout)
	out.DurationMS = time.Since(start).Milliseconds()
	if err != nil {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		out.Error = err.Error()
		return out, nil
	}
	out.RCode = rcodeName(msg.RCode)
	out.Authoritative = msg.Authoritative
	for _, a := range msg.Answers {
		out.Answers = append(out.Answers, answer(a))
	}
	return out, nil
}

func (res Resolver) defaultServer() string {
	path := res.ResolvConf
	if path == "" {
		path = "/etc/resolv.conf"
	}
	f, err := os.Open(path)
	if err != nil {
		return "127.0.0.1"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 2 && fs[0] == "nameserver" {
			if a, err := netip.ParseAddr(fs[1]); err == nil && a.Zone() == "" {
				return a.String()
			}
		}
	}
	return "127.0.0.1"
}

// exchange asks over UDP, twice, and over TCP when the answer is truncated.
func exchange(ctx context.Context, server string, q dnsmessage.Question, timeout time.Duration) (*dnsmessage.Message, error) {
	var lastErr error
	for try := 0; try < 2; try++ {
		m, err := exchangeOnce(ctx, "udp", server, q, timeout)
		if err == nil && m.Truncated {
			m, err = exchangeOnce(ctx, "tcp", server, q, timeout)
		}
		if err == nil {
			return m, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			break
		}
	}
	return nil, lastErr
}

func exchangeOnce(ctx context.Context, network, server string, q dnsmessage.Question, timeout time.Duration) (*dnsmessage.Message, error) {
	var idb [2]byte
	_, _ = rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	b := dnsmessage.NewBuilder(make([]byte, 2, 514), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, fmt.Errorf("building query: %w", err)
	}
	if err := b.StartAdditionals(); err != nil {
		return nil, err
	}
	var rh dnsmessage.ResourceHeader
	if err := rh.SetEDNS0(1232, dnsmessage.RCodeSuccess, false); err != nil {
		return nil, err
	}
	if err := b.OPTResource(rh, dnsmessage.OPTResource{}); err != nil {
		return nil, err
	}
	pkt, err := b.Finish()
	if err != nil {
		return nil, fmt.Errorf("building query: %w", err)
	}
	binary.BigEndian.PutUint16(pkt, uint16(len(pkt)-2))

	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, network, server)
	if err != nil {
		return nil, fmt.Errorf("asking %s over %s: %w", server, network, err)
	}
	defer conn.Close()
	deadline := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var resp []byte
	if network == "udp" {
		if _, err := conn.Write(pkt[2:]); err != nil {
			return nil, fmt.Errorf("asking %s: %w", server, err)
		}
		buf := make([]byte, 65535)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return nil, fmt.Errorf("no answer from %s: %w", server, err)
			}
			if n >= 2 && binary.BigEndian.Uint16(buf) == id {
				resp = buf[:n]
				break
			}
		}
	} else {
		if _, err := conn.Write(pkt); err != nil {
			return nil, fmt.Errorf("asking %s over tcp: %w", server, err)
		}
		var lb [2]byte
		if _, err := io.ReadFull(conn, lb[:]); err != nil {
			return nil, fmt.Errorf("no answer from %s over tcp: %w", server, err)
		}
		resp = make([]byte, binary.BigEndian.Uint16(lb[:]))
		if _, err := io.ReadFull(conn, resp); err != nil {
			return nil, fmt.Errorf("reading answer from %s over tcp: %w", server, err)
		}
	}
	var m dnsmessage.Message
	if err := m.Unpack(resp); err != nil {
		return nil, fmt.Errorf("parsing answer from %s: %w", server, err)
	}
	if m.ID != id || !m.Response {
		return nil, fmt.Errorf("answer from %s does not match the query", server)
	}
	if len(m.Questions) > 0 && !strings.EqualFold(m.Questions[0].Name.String(), q.Name.String()) {
		return nil, fmt.Errorf("answer from %s is for another name (%s)", server, m.Questions[0].Name)
	}
	return &m, nil
}

func answer(r dnsmessage.Resource) DNSAnswer {
	a := DNSAnswer{Name: r.Header.Name.String(), Type: strings.TrimPrefix(r.Header.Type.String(), "Type"), TTL: r.Header.TTL}
	switch b := r.Body.(type) {
	case *dnsmessage.AResource:
		a.Value = netip.AddrFrom4(b.A).String()
	case *dnsmessage.AAAAResource:
		a.Value = netip.AddrFrom16(b.AAAA).String()
	case *dnsmessage.CNAMEResource:
		a.Value = b.CNAME.String()
	case *dnsmessage.MXResource:
		a.Value = strconv.Itoa(int(b.Pref)) + " " + b.MX.String()
	case *dnsmessage.NSResource:
		a.Value = b.NS.String()
	case *dnsmessage.PTRResource:
		a.Value = b.PTR.String()
	case *dnsmessage.TXTResource:
		q := make([]string, len(b.TXT))
		for i, s := range b.TXT {
			q[i] = strconv.Quote(s)
		}
		a.Value = strings.Join(q, " ")
	case *dnsmessage.SOAResource:
		a.Value = fmt.Sprintf("%s %s %d", b.NS, b.MBox, b.Serial)
	default:
		a.Value = fmt.Sprintf("%v", r.Body)
	}
	return a
}

func rcodeName(c dnsmessage.RCode) string {
	switch c {
	case dnsmessage.RCodeSuccess:
		return "NOERROR"
	case dnsmessage.RCodeFormatError:
		return "FORMERR"
	case dnsmessage.RCodeServerFailure:
		return "SERVFAIL"
	case dnsmessage.RCodeNameError:
		return "NXDOMAIN"
	case dnsmessage.RCodeNotImplemented:
		return "NOTIMP"
	case dnsmessage.RCodeRefused:
		return "REFUSED"
	}
	return "RCODE" + strconv.Itoa(int(c))
}

// reverseName is the in-addr.arpa or ip6.arpa name of a.
func reverseName(a netip.Addr) string {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa.", b[3], b[2], b[1], b[0])
	}
	b := a.As16()
	var sb strings.Builder
	const hex = "0123456789abcdef"
	for i := len(b) - 1; i >= 0; i-- {
		sb.WriteByte(hex[b[i]&0xf])
		sb.WriteByte('.')
		sb.WriteByte(hex[b[i]>>4])
		sb.WriteByte('.')
	}
	sb.WriteString("ip6.arpa.")
	return sb.String()
}
