package diag

import (
	"context"
	"encoding/binary"
	"errors"
	"github.com/devmgr/devmgr/internal/fielderr"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

func mustAddr(t testing.TB, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// testDNS is a tiny authoritative DNS server for the zone "test." on
// 127.0.0.1, over UDP and TCP on one port.
type testDNS struct {
	port    int
	udp     net.PacketConn
	tcp     net.Listener
	wg      sync.WaitGroup
	mu      sync.Mutex
	queries []string
}

func newTestDNS(t *testing.T) *testDNS {
	t.Helper()
	s := &testDNS{}
	for try := 0; ; try++ {
		udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", itoa(port)))
		if err != nil {
			udp.Close()
			if try < 10 {
				continue
			}
			t.Fatal(err)
		}
		s.udp, s.tcp, s.port = udp, tcp, port
		break
	}
	s.wg.Add(2)
	go s.serveUDP()
	go s.serveTCP()
	t.Cleanup(func() {
		s.udp.Close()
		s.tcp.Close()
		s.wg.Wait()
	})
	return s
}

func itoa(i int) string { return strconv.Itoa(i) }

func (s *testDNS) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, addr, err := s.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		resp := s.answer(buf[:n], true)
		if resp != nil {
			_, _ = s.udp.WriteTo(resp, addr)
		}
	}
}

func (s *testDNS) serveTCP() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			var lb [2]byte
			if _, err := io.ReadFull(c, lb[:]); err != nil {
				return
			}
			q := make([]byte, binary.BigEndian.Uint16(lb[:]))
			if _, err := io.ReadFull(c, q); err != nil {
				return
			}
			resp := s.answer(q, false)
			out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
			_, _ = c.Write(append(out, resp...))
		}()
	}
}

func (s *testDNS) answer(q []byte, udp bool) []byte {
	var m dnsmessage.Message
	if err := m.Unpack(q); err != nil || len(m.Questions) != 1 {
		return nil
	}
	qq := m.Questions[0]
	s.mu.Lock()
	s.queries = append(s.queries, qq.Type.String()+" "+qq.Name.String()+map[bool]string{true: " udp", false: " tcp"}[udp])
	s.mu.Unlock()
	h := dnsmessage.ResourceHeader{Name: qq.Name, Class: dnsmessage.ClassINET, TTL: 300}
	name := strings.ToLower(qq.Name.String())
	mustName := func(s string) dnsmessage.Name { return dnsmessage.MustNewName(s) }
	var answers []dnsmessage.Resource
	add := func(t dnsmessage.Type, body dnsmessage.ResourceBody) {
		if t == qq.Type {
			hh := h
			hh.Type = t
			answers = append(answers, dnsmessage.Resource{Header: hh, Body: body})
		}
	}
	known := true
	switch name {
	case "host.test.":
		add(dnsmessage.TypeA, &dnsmessage.AResource{A: [4]byte{192, 0, 2, 10}})
		add(dnsmessage.TypeAAAA, &dnsmessage.AAAAResource{AAAA: netip.MustParseAddr("2001:db8::10").As16()})
	case "test.":
		add(dnsmessage.TypeMX, &dnsmessage.MXResource{Pref: 10, MX: mustName("mx1.test.")})
		add(dnsmessage.TypeNS, &dnsmessage.NSResource{NS: mustName("ns1.test.")})
		add(dnsmessage.TypeTXT, &dnsmessage.TXTResource{TXT: []string{"v=spf1 -all", "second part"}})
	case "10.2.0.192.in-addr.arpa.":
		add(dnsmessage.TypePTR, &dnsmessage.PTRResource{PTR: mustName("host.test.")})
	case "alias.test.":
		add(dnsmessage.TypeCNAME, &dnsmessage.CNAMEResource{CNAME: mustName("host.test.")})
	case "big.test.":
		for i := range 120 {
			add(dnsmessage.TypeA, &dnsmessage.AResource{A: [4]byte{198, 51, 100, byte(i)}})
		}
	default:
		known = false
	}
	hdr := dnsmessage.Header{ID: m.ID, Response: true, Authoritative: true, RecursionDesired: m.RecursionDesired}
	if !known {
		hdr.RCode = dnsmessage.RCodeNameError
	}
	if udp && len(answers) > 20 {
		hdr.Truncated = true
		answers = nil
	}
	resp := dnsmessage.Message{Header: hdr, Questions: m.Questions, Answers: answers}
	b, err := resp.Pack()
	if err != nil {
		return nil
	}
	return b
}

func TestLookup(t *testing.T) {
	srv := newTestDNS(t)
	res := Resolver{Port: srv.port, Timeout: 2 * time.Second}
	tests := []struct {
		req     DNSRequest
		rcode   string
		answers []DNSAnswer
	}{
		{DNSRequest{Name: "host.test", Type: "A"}, "NOERROR", []DNSAnswer{{"host.test.", "A", 300, "192.0.2.10"}}},
		{DNSRequest{Name: "HOST.test."}, "NOERROR", []DNSAnswer{{"HOST.test.", "A", 300, "192.0.2.10"}}},
		{DNSRequest{Name: "host.test", Type: "aaaa"}, "NOERROR", []DNSAnswer{{"host.test.", "AAAA", 300, "2001:db8::10"}}},
		{DNSRequest{Name: "test", Type: "MX"}, "NOERROR", []DNSAnswer{{"test.", "MX", 300, "10 mx1.test."}}},
		{DNSRequest{Name: "test", Type: "NS"}, "NOERROR", []DNSAnswer{{"test.", "NS", 300, "ns1.test."}}},
		{DNSRequest{Name: "test", Type: "TXT"}, "NOERROR", []DNSAnswer{{"test.", "TXT", 300, `"v=spf1 -all" "second part"`}}},
		{DNSRequest{Name: "192.0.2.10", Type: "PTR"}, "NOERROR", []DNSAnswer{{"10.2.0.192.in-addr.arpa.", "PTR", 300, "host.test."}}},
		{DNSRequest{Name: "alias.test", Type: "CNAME"}, "NOERROR", []DNSAnswer{{"alias.test.", "CNAME", 300, "host.test."}}},
		{DNSRequest{Name: "host.test", Type: "MX"}, "NOERROR", []DNSAnswer{}},
		{DNSRequest{Name: "nothing.test"}, "NXDOMAIN", []DNSAnswer{}},
	}
	for _, tt := range tests {
		t.Run(tt.req.Name+"/"+tt.req.Type, func(t *testing.T) {
			tt.req.Server = "127.0.0.1"
			got, err := res.Lookup(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got.Error != "" || got.RCode != tt.rcode || !got.Authoritative || got.Server != "127.0.0.1:"+itoa(srv.port) {
				t.Errorf("result %+v, want rcode %s from 127.0.0.1:%d", got, tt.rcode, srv.port)
			}
			if diff := cmp.Diff(tt.answers, got.Answers); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("truncated answer is asked again over TCP", func(t *testing.T) {
		got, err := res.Lookup(context.Background(), DNSRequest{Name: "big.test", Server: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Answers) != 120 {
			t.Errorf("%d answers, want 120 (over TCP)", len(got.Answers))
		}
		srv.mu.Lock()
		defer srv.mu.Unlock()
		if !slicesContains(srv.queries, "TypeA big.test. tcp") {
			t.Errorf("queries %q: no TCP retry", srv.queries)
		}
	})
}

func slicesContains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestLookupNoServer(t *testing.T) {
	// A port nobody listens on: the lookup is a result that says why.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	res := Resolver{Port: port, Timeout: 300 * time.Millisecond}
	got, err := res.Lookup(context.Background(), DNSRequest{Name: "host.test", Server: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Error == "" || got.RCode != "" {
		t.Errorf("result %+v, want an error and no rcode", got)
	}

	// A bad request never reaches the network.
	_, err = res.Lookup(context.Background(), DNSRequest{Name: "host.test", Type: "AXFR"})
	var fe *fielderr.Error
	if !errors.As(err, &fe) || fe.Field != "type" {
		t.Errorf("AXFR: %v, want a fielderr.Error for type", err)
	}
}

func TestDefaultServer(t *testing.T) {
	dir := t.TempDir()
	p := dir + "/resolv.conf"
	writeFile(t, p, "# comment\nsearch example\nnameserver fe80::1%eth0\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n")
	if got := (Resolver{ResolvConf: p}).defaultServer(); got != "192.0.2.53" {
		t.Errorf("defaultServer = %s, want 192.0.2.53", got)
	}
	if got := (Resolver{ResolvConf: dir + "/missing"}).defaultServer(); got != "127.0.0.1" {
		t.Errorf("defaultServer without resolv.conf = %s, want 127.0.0.1", got)
	}
}

// TestLookupDnsmasq asks the real dnsmasq of the lab's upstream namespace.
func TestLookupDnsmasq(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "dnsmasq", "ip")
	l := lab.NewT(t, lab.Options{})
	var a, ptr, nx DNSResult
	err := l.Do(lab.Upstream, func() error {
		var err error
		r := Resolver{Timeout: 2 * time.Second}
		ctx := context.Background()
		if a, err = r.Lookup(ctx, DNSRequest{Name: lab.UpstreamName, Server: lab.UpstreamIP}); err != nil {
			return err
		}
		if ptr, err = r.Lookup(ctx, DNSRequest{Name: lab.UpstreamIP, Type: "PTR", Server: lab.UpstreamIP}); err != nil {
			return err
		}
		nx, err = r.Lookup(ctx, DNSRequest{Name: "missing.lab.test", Server: lab.UpstreamIP})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.RCode != "NOERROR" || len(a.Answers) != 1 || a.Answers[0].Value != lab.UpstreamIP {
		t.Errorf("A %s: %+v", lab.UpstreamName, a)
	}
	if ptr.RCode != "NOERROR" || len(ptr.Answers) != 1 || ptr.Answers[0].Value != lab.UpstreamName+"." {
		t.Errorf("PTR %s: %+v", lab.UpstreamIP, ptr)
	}
	if nx.RCode != "NXDOMAIN" || len(nx.Answers) != 0 {
		t.Errorf("missing name: %+v", nx)
	}
}
