package agent

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"syscall"

	"github.com/devmgr/devmgr/internal/hostapd"
)

// WiFi lists the stations associated with the access point.
type WiFi interface {
	Stations(ctx context.Context) ([]hostapd.Station, error)
}

// HostapdWiFi asks hostapd over its control socket, one connection a request.
type HostapdWiFi struct {
	CtrlDir   string // ctrl_interface; "": hostapd.DefaultCtrlInterface
	Interface string // ap.interface
}

// ErrNoHostapd is wrapped when hostapd's control socket is missing or refuses.
var ErrNoHostapd = errors.New("hostapd is not running")

// Stations implements WiFi.
func (w HostapdWiFi) Stations(ctx context.Context) ([]hostapd.Station, error) {
	dir := w.CtrlDir
	if dir == "" {
		dir = hostapd.DefaultCtrlInterface
	}
	c, err := hostapd.Dial(dir, w.Interface)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, errorf(http.StatusServiceUnavailable, "", "%v: %v", ErrNoHostapd, err)
		}
		return nil, err
	}
	defer c.Close()
	st, err := c.Stations(ctx)
	if err != nil {
		return nil, err
	}
	if st == nil {
		st = []hostapd.Station{}
	}
	return st, nil
}

func (s *Server) wifiClients(w http.ResponseWriter, r *http.Request, _ Actor) error {
	if s.cfg.WiFi == nil {
		return errorf(http.StatusServiceUnavailable, "", "WiFi clients are not available in this agent")
	}
	st, err := s.cfg.WiFi.Stations(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
