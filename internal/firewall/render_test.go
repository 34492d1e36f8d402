package firewall

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netns"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/testing/testutil"
	"github.com/devmgr/devmgr/internal/toolrun"
)

var consolePorts = Options{ConsolePorts: []int{443, 80}}

var renderCases = []struct {
	name string
	cfg  func(*config.Config)
	opts Options
}{
	{"default", func(*config.Config) {}, consolePorts},
	{"allow-ap-to-lan", func(c *config.Config) { c.Firewall.AllowAPToLAN = true }, consolePorts},
	{"several", func(c *config.Config) {
		c.AP.Interface = "wlp2s0"
		c.Uplinks = []string{"eth0", "wwan0", "eth0"}
		c.LAN = []string{"eth1", "eth2.10"}
		c.Firewall.AllowAPToLAN = true
	}, Options{ConsolePorts: []int{8443, 443, 443}}},
	{"no-uplinks", func(c *config.Config) { c.Uplinks = nil }, consolePorts},
	{"no-lan", func(c *config.Config) { c.LAN = []string{}; c.Firewall.AllowAPToLAN = true }, consolePorts},
	{"no-uplinks-no-lan-no-ports", func(c *config.Config) { c.Uplinks, c.LAN = nil, nil }, Options{}},
}

func TestRenderGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			tc.cfg(&c)
			got, err := Render(c, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, filepath.Join("testdata", tc.name+".golden"), got)
		})
	}
}

func TestRenderedRulesetsPassNft(t *testing.T) {
	t.Parallel()
	requireNft(t)
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			tc.cfg(&c)
			got, err := Render(c, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := Check(context.Background(), got); err != nil {
				t.Errorf("Check: %v\n%s", err, got)
			}
		})
	}
}

func TestCheckRejects(t *testing.T) {
	t.Parallel()
	requireNft(t)
	err := Check(context.Background(), []byte("table inet devmgr {\n\tchain input {\n\t\tiifname \"eth0\" bogus\n\t}\n}\n"))
	if err == nil || !strings.Contains(err.Error(), "-c -f") || !strings.Contains(err.Error(), ":3:") {
		t.Errorf("Check error = %v, want one naming argv and line 3", err)
	}
}

func TestRenderRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  func(*config.Config)
		opts Options
		want string
	}{
		{"port 0", func(*config.Config) {}, Options{ConsolePorts: []int{0}}, "console port 0"},
		{"port too big", func(*config.Config) {}, Options{ConsolePorts: []int{70000}}, "console port 70000"},
		{"bad uplink", func(c *config.Config) { c.Uplinks = []string{"eth0", `x" accept`} }, consolePorts, "uplinks[1]"},
		{"bad lan", func(c *config.Config) { c.LAN = []string{""} }, consolePorts, "lan[0]"},
		{"bad ap", func(c *config.Config) { c.AP.Interface = "wlan0\n" }, consolePorts, "ap.interface"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			tt.cfg(&c)
			_, err := Render(c, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Render error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

var injections = []string{
	"a\nb", "eth0\n}\ntable ip x {", "eth0\r", "eth\x00", "#c", `eth0" accept`, `"`, `\`, "eth0;flush ruleset",
	"eth0 ", "eth 0", "a=b", "{eth0}", "\xc0\xaf", "é", strings.Repeat("e", 16), "", ".", "..", "*", "eth*",
	// valid names, which must render, load and mean exactly themselves:
	"eth0", "wwan0", "br-lan", "eth2.10", "e_1", "A.-_9",
}

// TestInjection puts every injection into every interface field. A refused
// value is fine; an accepted one is loaded into a throwaway network
// namespace and read back with `nft -j`, and each rule's interface matches
// must be exactly the intended names.
func TestInjection(t *testing.T) {
	t.Parallel()
	fields := []struct {
		name string
		set  func(c *config.Config, v string)
	}{
		{"ap", func(c *config.Config, v string) {
			c.AP.Interface = v
			c.Uplinks, c.LAN = []string{"up0"}, []string{"lan0"}
		}},
		{"uplink", func(c *config.Config, v string) { c.Uplinks = []string{"up0", v} }},
		{"lan", func(c *config.Config, v string) { c.LAN = []string{v}; c.Firewall.AllowAPToLAN = true }},
	}
	accepted := 0
	for _, f := range fields {
		for i, v := range injections {
			t.Run(fmt.Sprintf("%s/%d", f.name, i), func(t *testing.T) {
				c := config.Default()
				f.set(&c, v)
				b, err := Render(c, consolePorts)
				if err != nil {
					return
				}
				accepted++
				if !canNetns() {
					return
				}
				got := loadAndList(t, b)
				want := []string{
					fmt.Sprintf("input: iif %s tcp [80 443] drop", lst(c.Uplinks)),
					"forward: ct accept",
					"forward: ct drop",
					fmt.Sprintf("forward: iif [%s] oif %s accept", c.AP.Interface, lst(c.Uplinks)),
				}
				if c.Firewall.AllowAPToLAN {
					want = append(want, fmt.Sprintf("forward: iif [%s] oif %s accept", c.AP.Interface, lst(c.LAN)))
				}
				want = append(want, fmt.Sprintf("forward: iif %s oif %s accept", lst(c.LAN), lst(c.Uplinks)),
					fmt.Sprintf("postrouting: oif %s masquerade", lst(c.Uplinks)))
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("value %q in %s: rules (-want +got):\n%s\n%s", v, f.name, diff, b)
				}
			})
		}
	}
	if accepted < 6 {
		t.Errorf("only %d values rendered", accepted)
	}
}

// Apply twice in a throwaway namespace: the second run changes nothing,
// and there is exactly one devmgr table.
func TestApplyIdempotent(t *testing.T) {
	t.Parallel()
	requireNft(t)
	c := config.Default()
	b, err := Render(c, consolePorts)
	if err != nil {
		t.Fatal(err)
	}
	c.Firewall.AllowAPToLAN = true
	b2, err := Render(c, consolePorts)
	if err != nil {
		t.Fatal(err)
	}
	inNetns(t, func() {
		ctx := context.Background()
		// Something else's table must survive our replacement.
		if out, err := exec.Command(nftPath(t), "add", "table", "ip", "other").CombinedOutput(); err != nil {
			t.Fatalf("nft add table: %v: %s", err, out)
		}
		var lists []string
		for _, rs := range [][]byte{b, b, b2, b} {
			if err := Apply(ctx, rs); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			lists = append(lists, nftOut(t, "list", "table", "inet", "devmgr"))
		}
		if lists[0] != lists[1] {
			t.Errorf("second Apply changed the table:\n%s\n---\n%s", lists[0], lists[1])
		}
		if lists[0] == lists[2] || !strings.Contains(lists[2], `oifname "eth1" accept`) {
			t.Errorf("Apply of a new ruleset did not replace the table:\n%s", lists[2])
		}
		if lists[3] != lists[0] {
			t.Errorf("re-applying the first ruleset left a difference:\n%s\n---\n%s", lists[0], lists[3])
		}
		tables := nftOut(t, "list", "tables")
		if strings.Count(tables, "table inet devmgr") != 1 || !strings.Contains(tables, "table ip other") {
			t.Errorf("tables after Apply:\n%s", tables)
		}
		if err := Delete(ctx); err != nil {
			t.Fatal(err)
		}
		if err := Delete(ctx); err != nil {
			t.Fatalf("second Delete: %v", err)
		}
		if tables := nftOut(t, "list", "tables"); strings.Contains(tables, "devmgr") {
			t.Errorf("tables after Delete:\n%s", tables)
		}
	})
}

// loadAndList applies b in a throwaway namespace and summarises each rule
// from `nft -j list table inet devmgr` as "chain: matches verdict".
func loadAndList(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	inNetns(t, func() {
		if err := Apply(context.Background(), b); err != nil {
			t.Fatalf("Apply: %v\n%s", err, b)
		}
		var doc struct {
			Nftables []map[string]json.RawMessage `json:"nftables"`
		}
		if err := json.Unmarshal([]byte(nftOut(t, "-j", "list", "table", "inet", "devmgr")), &doc); err != nil {
			t.Fatal(err)
		}
		for _, o := range doc.Nftables {
			raw, ok := o["rule"]
			if !ok {
				continue
			}
			var r struct {
				Chain string           `json:"chain"`
				Expr  []map[string]any `json:"expr"`
			}
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatal(err)
			}
			parts := []string{r.Chain + ":"}
			for _, e := range r.Expr {
				switch {
				case e["match"] != nil:
					m := e["match"].(map[string]any)
					left, _ := json.Marshal(m["left"])
					switch {
					case strings.Contains(string(left), `"iifname"`):
						parts = append(parts, "iif "+names(m["right"]))
					case strings.Contains(string(left), `"oifname"`):
						parts = append(parts, "oif "+names(m["right"]))
					case strings.Contains(string(left), `"dport"`):
						parts = append(parts, "tcp "+names(m["right"]))
					case strings.Contains(string(left), `"ct"`):
						parts = append(parts, "ct")
					default:
						parts = append(parts, "match "+string(left))
					}
				case hasKey(e, "accept"):
					parts = append(parts, "accept")
				case hasKey(e, "drop"):
					parts = append(parts, "drop")
				case hasKey(e, "masquerade"):
					parts = append(parts, "masquerade")
				}
			}
			out = append(out, strings.Join(parts, " "))
		}
	})
	return out
}

func lst(ss []string) string {
	s := slices.Clone(ss)
	slices.Sort(s)
	return fmt.Sprint(s)
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

// names renders a match's right side (a string, a number or a set of
// them) as a sorted list.
func names(v any) string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case float64:
			out = append(out, fmt.Sprint(x))
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			walk(x["set"])
		}
	}
	walk(v)
	slices.SortFunc(out, func(a, b string) int {
		if len(a) != len(b) && isNum(a) && isNum(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	})
	return fmt.Sprint(out)
}

func isNum(s string) bool { return strings.Trim(s, "0123456789") == "" }

func canNetns() bool {
	_, err := toolrun.LookPath("nft")
	return err == nil && os.Geteuid() == 0
}

// inNetns runs f on a goroutine locked to an OS thread that sits in a new,
// empty network namespace, so programs it starts never touch the host's.
func inNetns(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		// The thread is never unlocked: it dies with the goroutine rather
		// than return to the pool in the wrong namespace.
		ns, err := netns.New()
		if err != nil {
			t.Errorf("new netns: %v", err)
			return
		}
		defer ns.Close()
		f()
	}()
	<-done
}

func nftPath(t *testing.T) string {
	p, err := toolrun.LookPath("nft")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func nftOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(nftPath(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("nft %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func requireNft(t *testing.T) {
	t.Helper()
	testutil.RequireBinary(t, "nft")
	testutil.RequireRoot(t)
}
