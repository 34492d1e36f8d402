package web

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/auth"
)

// A reset's password is shown once, to the admin who made it, within its
// time.
func TestOneTimePasswords(t *testing.T) {
	t.Parallel()
	var o oneTimePasswords
	now := time.Now()
	p := oneTimePassword{Name: "vera", Password: "secret"}
	ref := o.put(p, 1, now)
	if got := o.pop(ref, 2, now); got != nil {
		t.Errorf("another admin popped %+v", got)
	}
	ref = o.put(p, 1, now)
	if got := o.pop(ref, 1, now.Add(time.Second)); got == nil || *got != p {
		t.Errorf("pop = %+v, want %+v", got, p)
	}
	if got := o.pop(ref, 1, now.Add(time.Second)); got != nil {
		t.Errorf("popped twice: %+v", got)
	}
	ref = o.put(p, 1, now)
	if got := o.pop(ref, 1, now.Add(oneTimeTTL)); got != nil {
		t.Errorf("popped after %s: %+v", oneTimeTTL, got)
	}
	// Expired entries go when the next is put.
	o.put(p, 1, now)
	o.put(p, 1, now.Add(oneTimeTTL))
	if n := len(o.m); n != 1 {
		t.Errorf("%d passwords kept, want 1", n)
	}
	if o.pop("", 1, now) != nil || o.pop("nonsense", 1, now) != nil {
		t.Error("popped without a reference")
	}
}

// The Users page says what each role may do, from the route table: every
// role route has words, each ability sits under the least role of its
// routes, and a route added with a role shows up under it.
func TestRoleAbilities(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	table := h.srv.routeTable()
	can := func(routes []route) map[auth.Role][]string {
		out := map[auth.Role][]string{}
		for _, a := range roleAbilities(routes) {
			out[a.Role] = a.Can
		}
		return out
	}
	words := func(area string) string {
		for _, a := range abilities {
			if slices.Contains(a.areas, area) {
				return a.words
			}
		}
		t.Fatalf("no words for %s", area)
		return ""
	}
	got := can(table)
	// In the list's order: the dashboard first.
	if v := got[auth.Viewer]; len(v) == 0 || v[0] != words("read dashboard") {
		t.Errorf("a viewer's list does not begin with the dashboard: %q", v)
	}
	for _, rt := range table {
		if w, _ := ability(rt.pattern); rt.access == role && w == rt.pattern {
			t.Errorf("route %s has no words for the Users page (abilities in users.go)", rt.pattern)
		}
	}
	want := map[auth.Role][]string{
		auth.Viewer:   {words("read dashboard"), words("read network"), words("read ap"), words("read dhcp")},
		auth.Operator: {words("read diag")},
		auth.Admin:    {words("change network"), words("change ap"), words("read users"), words("read audit")},
	}
	for r, ws := range want {
		for _, w := range ws {
			if !slices.Contains(got[r], w) {
				t.Errorf("%s may not %q; has %q", r, w, got[r])
			}
		}
	}
	for r, ws := range got {
		for _, w := range ws {
			for other, ows := range got {
				if other != r && slices.Contains(ows, w) {
					t.Errorf("%q under both %s and %s", w, r, other)
				}
			}
		}
	}

	// Added routes: a new area appears as it is, under its role; an
	// existing area's words move to the least role that has one.
	added := append(slices.Clone(table),
		route{"POST /widgets/{id}", role, auth.Operator, nil},
		route{"POST /ap/reboot", role, auth.Operator, nil})
	got = can(added)
	if !slices.Contains(got[auth.Operator], "POST /widgets/{id}") {
		t.Errorf("a new operator route is not under operator: %q", got[auth.Operator])
	}
	if w := words("change ap"); !slices.Contains(got[auth.Operator], w) || slices.Contains(got[auth.Admin], w) {
		t.Errorf("an operator route of the AP does not move %q to operator: %q", w, got)
	}
	if diff := cmp.Diff([]auth.Role{"", auth.Viewer, auth.Operator}, []auth.Role{roleAbilities(table)[0].Below, roleAbilities(table)[1].Below, roleAbilities(table)[2].Below}); diff != "" {
		t.Errorf("roles below (-want +got):\n%s", diff)
	}

	// The page shows them.
	admin, _ := h.adminClient()
	page := admin.get("/users")
	for _, want := range []string{`id="roles"`, `data-role="operator"`, "Everything a viewer may, and:", "Everything an operator may, and:",
		"<li>" + words("read diag") + "</li>"} {
		if page.status != http.StatusOK || !strings.Contains(page.body, want) {
			t.Errorf("users page lacks %s", want)
		}
	}
}
