package backup

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/devmgr/devmgr/internal/change"
)

// FormatVersion is the archive format this devmgr writes, and the newest
// it reads. Raise it when a member changes meaning or a new one becomes
// required.
const FormatVersion = 1

// The members of an archive, by their logical names. A restore never
// writes a member where its name points: it knows where each one goes.
const (
	MemberManifest = "manifest.json"
	MemberConfig   = "config.yaml"    // the devmgr config file
	MemberDB       = "console.db"     // a snapshot of the console's database
	MemberTLSCert  = "tls-cert.pem"   // the certificate devmgr generated, when it did
	MemberTLSKey   = "tls-key.pem"    // and its key
	MemberAP       = "agent-ap.json"  // apmgr.State: AP settings saved from the console, deny list
	MemberLAN      = "agent-lan.json" // the confirmed LAN configs (netif)
)

// memberOrder is the order of the members in an archive; the manifest
// comes first, so that a reader knows what to expect before it reads.
var memberOrder = []string{MemberManifest, MemberConfig, MemberDB, MemberTLSCert, MemberTLSKey, MemberAP, MemberLAN}

// required are the members every archive has.
var required = []string{MemberConfig, MemberDB, MemberAP, MemberLAN}

// consoleMembers are the members the console's account exports and
// imports (Console).
var consoleMembers = []string{MemberDB, MemberTLSCert, MemberTLSKey}

// Kinds of backup, as a file's name and its manifest say.
const (
	KindManual     = "manual"      // devmgr backup create, the page's "create now"
	KindScheduled  = "scheduled"   // the timer or the agent's ticker; pruned to backup.keep
	KindPreRestore = "pre-restore" // the device's state just before a restore replaced it
	KindPreReset   = "pre-reset"   // the settings a factory reset keeps (internal/reset, PutBack)
)

var kinds = []string{KindManual, KindScheduled, KindPreRestore, KindPreReset}

// Manifest describes an archive: which devmgr made it, where and when,
// and the size and SHA-256 of every other member.
type Manifest struct {
	Format    int       `json:"format"`
	Version   string    `json:"devmgr_version"`
	Hostname  string    `json:"hostname"`
	CreatedAt time.Time `json:"created_at"`
	Kind      string    `json:"kind"`
	Members   []Member  `json:"members"`
}

// Member is one member as the manifest lists it.
type Member struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// member returns the manifest's entry for name.
func (m Manifest) member(name string) (Member, bool) {
	i := slices.IndexFunc(m.Members, func(x Member) bool { return x.Name == name })
	if i < 0 {
		return Member{}, false
	}
	return m.Members[i], true
}

// Has reports whether the archive holds the member name.
func (m Manifest) Has(name string) bool {
	_, ok := m.member(name)
	return ok
}

// parseManifest reads a manifest: a format newer than FormatVersion is
// ErrTooNew, naming the devmgr that made it, before anything else about it
// is judged; then it must list known members once each, within limits.
func parseManifest(b []byte, l Limits) (Manifest, error) {
	var probe struct {
		Format  int    `json:"format"`
		Version string `json:"devmgr_version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return Manifest{}, fmt.Errorf("%w: its manifest is not JSON: %v", ErrNotBackup, err)
	}
	if probe.Format > FormatVersion {
		return Manifest{}, fmt.Errorf("%w: it was made by devmgr %s (backup format %d); this devmgr reads formats up to %d: upgrade devmgr to restore it",
			ErrTooNew, change.Clip(probe.Version), probe.Format, FormatVersion)
	}
	if probe.Format < 1 {
		return Manifest{}, fmt.Errorf("%w: its manifest has no format version", ErrNotBackup)
	}
	var m Manifest
	if err := change.DecodeStrict(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("%w: reading its manifest: %v", ErrDamaged, err)
	}
	if !slices.Contains(kinds, m.Kind) {
		return Manifest{}, fmt.Errorf("%w: its manifest names kind %q", ErrDamaged, change.Clip(m.Kind))
	}
	if len(m.Version) > 128 || len(m.Hostname) > 255 {
		return Manifest{}, fmt.Errorf("%w: its manifest's version or host name is too long", ErrDamaged)
	}
	seen := map[string]bool{}
	for _, x := range m.Members {
		switch {
		case x.Name == MemberManifest || !slices.Contains(memberOrder, x.Name):
			return Manifest{}, fmt.Errorf("%w: its manifest lists an unknown member %q", ErrInvalid, change.Clip(x.Name))
		case seen[x.Name]:
			return Manifest{}, fmt.Errorf("%w: its manifest lists member %s twice", ErrTampered, x.Name)
		case x.Size < 0 || x.Size > l.max(x.Name):
			return Manifest{}, fmt.Errorf("%w: member %s is %d bytes, at most %d are read", ErrTooLarge, x.Name, x.Size, l.max(x.Name))
		}
		if s, err := hex.DecodeString(x.SHA256); err != nil || len(s) != 32 {
			return Manifest{}, fmt.Errorf("%w: its manifest's SHA-256 of %s is not 64 hex digits", ErrDamaged, x.Name)
		}
		seen[x.Name] = true
	}
	for _, name := range required {
		if !seen[name] {
			return Manifest{}, fmt.Errorf("%w: its manifest does not list %s", ErrInvalid, name)
		}
	}
	if seen[MemberTLSCert] != seen[MemberTLSKey] {
		return Manifest{}, fmt.Errorf("%w: it holds only one of %s and %s", ErrInvalid, MemberTLSCert, MemberTLSKey)
	}
	return m, nil
}

func (m Manifest) encode() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("encoding the manifest: %w", err)
	}
	return b.Bytes(), nil
}
