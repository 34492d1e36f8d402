package agent

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/traffic"
)

// Traffic is the traffic history the agent keeps and serves
// (*traffic.History): Serve runs it, GET /v1/traffic shows it and the
// interfaces carry its latest rates.
type Traffic interface {
	Run(ctx context.Context)
	All(since time.Time) []traffic.Series
	Rate(name string) (rx, tx uint64, ok bool)
	Interval() time.Duration
}

var _ Traffic = (*traffic.History)(nil)

// NewTraffic is the traffic history of h's links: one netlink dump of
// their counters every traffic.DefaultInterval. It is nil (and the
// agent serves no traffic) when h is.
func NewTraffic(h *netif.Handle, log *slog.Logger) Traffic {
	if h == nil {
		return nil
	}
	t, err := traffic.New(traffic.Config{Read: func(context.Context) ([]traffic.Counter, error) {
		cs, err := h.Counters()
		out := make([]traffic.Counter, len(cs))
		for i, c := range cs {
			out[i] = traffic.Counter{Name: c.Name, Index: c.Index, RxBytes: c.RxBytes, TxBytes: c.TxBytes}
		}
		return out, err
	}, Log: log.With("component", "traffic")})
	if err != nil { // only a missing Read, which is there
		log.Error("starting the traffic history", "err", err)
		return nil
	}
	return t
}

// runTraffic samples the traffic history, if there is one, until ctx is
// done; the returned stop ends it and waits for it.
func (s *Server) runTraffic(ctx context.Context) (stop func()) {
	if s.cfg.Traffic == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.cfg.Traffic.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

var errNoTraffic = errorf(http.StatusServiceUnavailable, "", "the traffic history is not kept by this agent")

// getTraffic is GET /v1/traffic[?interface=NAME][&since=UNIX].
func (s *Server) getTraffic(w http.ResponseWriter, r *http.Request, _ Actor) error {
	tr := s.cfg.Traffic
	if tr == nil {
		return errNoTraffic
	}
	q := r.URL.Query()
	name := q.Get("interface")
	if name != "" {
		if err := config.CheckInterfaceName(name); err != nil {
			return errorf(http.StatusBadRequest, "interface", "%q is not an interface name", clip(name))
		}
	}
	var since time.Time
	if v := q.Get("since"); v != "" {
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil || sec < 0 {
			return errorf(http.StatusBadRequest, "since", "%q is not a time in Unix seconds", clip(v))
		}
		since = time.Unix(sec, 0)
	}
	out := api.Traffic{IntervalSeconds: int(tr.Interval() / time.Second), Interfaces: []api.TrafficSeries{}}
	for _, sr := range tr.All(since) {
		if name == "" || sr.Name == name {
			out.Interfaces = append(out.Interfaces, wireTraffic(sr, tr))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// withRates gives each interface its latest rates from the history.
func (s *Server) withRates(ifs []Interface) {
	if s.cfg.Traffic == nil {
		return
	}
	for i := range ifs {
		if rx, tx, ok := s.cfg.Traffic.Rate(ifs[i].Name); ok {
			ifs[i].RxRate, ifs[i].TxRate = &rx, &tx
		}
	}
}
