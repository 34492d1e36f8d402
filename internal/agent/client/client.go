// Package client is the typed client of the agent API (internal/agent/api),
// used where the console renders a page on the server and by the CLI.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
)

// ErrUnavailable is returned (wrapped) when the agent's socket is missing,
// refuses connections or may not be opened: the agent is not running, or
// the web user is not in the socket's group. Pages say "agent not running".
var ErrUnavailable = errors.New("the devmgr agent is not running")

// Client is the typed client of the agent API, for the web server. It is
// safe for concurrent use. Errors are *api.Error for an answer of the agent
// (Status, Field, Message) and wrap ErrUnavailable when it cannot be reached.
type Client struct {
	socket string
	hc     *http.Client
	// slow waits longer for an answer's headers: backup tasks answer
	// once done.
	slow *http.Client
	// Timeout bounds a call that is not a stream when ctx has no deadline.
	Timeout time.Duration
}

// New returns a client of the agent listening on socketPath.
func New(socketPath string, opts ...Option) *Client {
	d := net.Dialer{Timeout: 2 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socketPath)
		},
		MaxIdleConns:          4,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true,
	}
	slow := tr.Clone()
	slow.ResponseHeaderTimeout = backupTimeout
	c := &Client{socket: socketPath, hc: &http.Client{Transport: tr}, slow: &http.Client{Transport: slow}, Timeout: 30 * time.Second}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Close drops idle connections.
func (c *Client) Close() {
	c.hc.CloseIdleConnections()
	c.slow.CloseIdleConnections()
}

// do sends a request and returns the response of a 2xx answer; any other
// answer becomes *Error.
func (c *Client) do(ctx context.Context, a *api.Actor, method, path string, body any) (*http.Response, error) {
	req, err := newRequest(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	return c.send(req, a)
}

// newRequest is a request to the agent with body as JSON (nil: none).
func newRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encoding %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://agent"+path, rd)
	if err != nil {
		return nil, fmt.Errorf("agent %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// send sends req as a (nil: no actor) and returns the response of a 2xx
// answer; any other answer becomes *Error.
func (c *Client) send(req *http.Request, a *api.Actor) (*http.Response, error) {
	return c.sendOn(c.hc, req, a)
}

// sendOn is send on hc.
func (c *Client) sendOn(hc *http.Client, req *http.Request, a *api.Actor) (*http.Response, error) {
	method, path := req.Method, req.URL.Path
	if a != nil {
		req.Header.Set(api.HeaderUser, a.User)
		req.Header.Set(api.HeaderRole, string(a.Role))
		req.Header.Set(api.HeaderSource, a.Source)
	}
	resp, err := hc.Do(req)
	if err != nil {
		if isUnavailable(err) {
			return nil, fmt.Errorf("%w (socket %s): %w", ErrUnavailable, c.socket, err)
		}
		return nil, fmt.Errorf("agent %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return nil, answerError(resp.StatusCode, b)
}

// answerError is the *Error of an answer that is not 2xx.
func answerError(status int, body []byte) *api.Error {
	e := &api.Error{Status: status}
	if json.Unmarshal(body, e) != nil || e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// Transport is the client's round tripper to the agent's socket (any
// request URL reaches the agent), for a proxy.
func (c *Client) Transport() http.RoundTripper { return c.hc.Transport }

// Unavailable reports whether err says the agent cannot be reached: an
// error of this client, or of a request sent over Transport.
func Unavailable(err error) bool { return errors.Is(err, ErrUnavailable) || isUnavailable(err) }

func isUnavailable(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EPERM)
}

// call does a JSON request and decodes the JSON answer into out.
func (c *Client) call(ctx context.Context, a *api.Actor, method, path string, body, out any) error {
	// A fresh kept answer of a shared read needs no request.
	if method == http.MethodGet && a != nil {
		if ans, ok := c.kept(string(a.Role), path); ok {
			if ans.status/100 != 2 {
				return ans.refused()
			}
			if err := ans.decode(out); err != nil {
				return fmt.Errorf("decoding agent answer to %s %s: %w", method, path, err)
			}
			return nil
		}
	}
	if _, ok := ctx.Deadline(); !ok && c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	req, err := newRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	return c.decodeAnswer(c.hc, req, a, out)
}

// api.Health asks whether the agent runs (no actor needed).
func (c *Client) Health(ctx context.Context) (api.Health, error) {
	var h api.Health
	return h, c.call(ctx, nil, http.MethodGet, "/v1/health", nil, &h)
}

// Interfaces lists every interface (viewer).
func (c *Client) Interfaces(ctx context.Context, a api.Actor) ([]api.Interface, error) {
	var out []api.Interface
	return out, c.call(ctx, &a, http.MethodGet, "/v1/interfaces", nil, &out)
}

// api.Interface returns one interface (viewer); 404 when it does not exist.
func (c *Client) Interface(ctx context.Context, a api.Actor, name string) (api.Interface, error) {
	var out api.Interface
	return out, c.call(ctx, &a, http.MethodGet, "/v1/interfaces/"+url.PathEscape(name), nil, &out)
}

// Traffic returns the traffic history (viewer): of one interface when
// name is set, and the samples after since when it is not zero.
func (c *Client) Traffic(ctx context.Context, a api.Actor, name string, since time.Time) (api.Traffic, error) {
	q := url.Values{}
	if name != "" {
		q.Set("interface", name)
	}
	if !since.IsZero() {
		q.Set("since", strconv.FormatInt(since.Unix(), 10))
	}
	path := "/v1/traffic"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out api.Traffic
	return out, c.call(ctx, &a, http.MethodGet, path, nil, &out)
}

// SetConfig applies a LAN interface's config (admin) as a pending change
// that rolls back unless confirmed. 400 names the bad field, 403 for the
// AP interface, 409 while another change is pending.
func (c *Client) SetConfig(ctx context.Context, a api.Actor, name string, lc api.LinkConfig) (api.Change, error) {
	var out api.Change
	return out, c.call(ctx, &a, http.MethodPut, "/v1/interfaces/"+url.PathEscape(name)+"/config", lc, &out)
}

// SetUp sets a LAN interface up or down (admin) as a pending change.
func (c *Client) SetUp(ctx context.Context, a api.Actor, name string, up bool) (api.Change, error) {
	verb := "down"
	if up {
		verb = "up"
	}
	var out api.Change
	return out, c.call(ctx, &a, http.MethodPost, "/v1/interfaces/"+url.PathEscape(name)+"/"+verb, nil, &out)
}

// api.Change returns a change's status (viewer).
func (c *Client) Change(ctx context.Context, a api.Actor, id string) (api.Change, error) {
	var out api.Change
	return out, c.call(ctx, &a, http.MethodGet, "/v1/changes/"+url.PathEscape(id), nil, &out)
}

// Confirm keeps a pending change (admin); 409 when it is no longer pending.
func (c *Client) Confirm(ctx context.Context, a api.Actor, id string) (api.Change, error) {
	var out api.Change
	return out, c.call(ctx, &a, http.MethodPost, "/v1/changes/"+url.PathEscape(id)+"/confirm", nil, &out)
}

// Ping runs ping (operator), calling line for each output line as it
// comes. A non-zero exit code is a result, not an error.
func (c *Client) Ping(ctx context.Context, a api.Actor, r api.PingRequest, line func(string)) (api.Result, error) {
	return c.stream(ctx, a, "/v1/diag/ping", r, line)
}

// Traceroute runs traceroute (operator), streaming like Ping.
func (c *Client) Traceroute(ctx context.Context, a api.Actor, r api.TracerouteRequest, line func(string)) (api.Result, error) {
	return c.stream(ctx, a, "/v1/diag/traceroute", r, line)
}

// ErrDiagnostic is wrapped by the error of a diagnostic that could not run
// to its end (timeout, program missing); the message says why.
var ErrDiagnostic = errors.New("diagnostic stopped")

// ErrStreamEnded is returned when a stream ends without its final event.
var ErrStreamEnded = errors.New("agent stream ended early")

func (c *Client) stream(ctx context.Context, a api.Actor, path string, body any, line func(string)) (api.Result, error) {
	resp, err := c.do(ctx, &a, http.MethodPost, path, body)
	if err != nil {
		return api.Result{}, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 8192), 1<<20)
	for sc.Scan() {
		var ev api.StreamEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return api.Result{}, fmt.Errorf("decoding agent stream %s: %w", path, err)
		}
		switch ev.Type {
		case api.EventLine:
			if line != nil {
				line(ev.Text)
			}
		case api.EventDone:
			res := api.Result{DurationMS: ev.DurationMS}
			if ev.ExitCode != nil {
				res.ExitCode = *ev.ExitCode
			}
			return res, nil
		case api.EventError:
			return api.Result{DurationMS: ev.DurationMS, ExitCode: -1}, fmt.Errorf("%w: %s", ErrDiagnostic, ev.Error)
		}
	}
	if err := sc.Err(); err != nil {
		return api.Result{}, fmt.Errorf("reading agent stream %s: %w", path, err)
	}
	return api.Result{}, fmt.Errorf("%s: %w", path, ErrStreamEnded)
}

// DNS looks a name up (operator). A lookup without an answer is a result
// whose api.Error says why.
func (c *Client) DNS(ctx context.Context, a api.Actor, r api.DNSRequest) (api.DNSResult, error) {
	var out api.DNSResult
	return out, c.call(ctx, &a, http.MethodPost, "/v1/diag/dns", r, &out)
}

// Neighbors returns the ARP/NDP table (operator).
func (c *Client) Neighbors(ctx context.Context, a api.Actor) ([]api.Neighbor, error) {
	var out []api.Neighbor
	return out, c.call(ctx, &a, http.MethodGet, "/v1/diag/neighbors", nil, &out)
}

// Leases returns the DHCP leases the AP's dnsmasq handed out (operator).
func (c *Client) Leases(ctx context.Context, a api.Actor) ([]api.DHCPLease, error) {
	var out []api.DHCPLease
	return out, c.call(ctx, &a, http.MethodGet, "/v1/dhcp/leases", nil, &out)
}

// AP returns the access point's status, settings (never the passphrase)
// and deny list (viewer). A hostapd that is not running is not an error:
// Status.Running is false and Status.Problem says why.
func (c *Client) AP(ctx context.Context, a api.Actor) (api.APInfo, error) {
	var out api.APInfo
	return out, c.call(ctx, &a, http.MethodGet, "/v1/ap", nil, &out)
}

// APClients lists the stations associated with the AP, joined with their
// DHCP leases (viewer); 503 when hostapd is not running.
func (c *Client) APClients(ctx context.Context, a api.Actor) ([]api.APClient, error) {
	var out []api.APClient
	return out, c.call(ctx, &a, http.MethodGet, "/v1/ap/clients", nil, &out)
}

// APSecretSettings returns the AP's settings in force with the passphrase
// (admin), for the QR code a phone scans to join. Never log or show it
// to anyone but an admin.
func (c *Client) APSecretSettings(ctx context.Context, a api.Actor) (api.APSecretSettings, error) {
	var out api.APSecretSettings
	return out, c.call(ctx, &a, http.MethodGet, "/v1/ap/settings", nil, &out)
}

// api.APUpdate changes the AP's settings (admin) as a pending change that rolls
// back unless confirmed. 400 names the bad field; 409 while another AP
// change is pending or when nothing changes.
func (c *Client) APUpdate(ctx context.Context, a api.Actor, u api.APUpdate) (api.APChange, error) {
	var out api.APChange
	return out, c.call(ctx, &a, http.MethodPut, "/v1/ap/settings", u, &out)
}

// api.APChange returns an AP change's status (viewer); 404 for an unknown id.
func (c *Client) APChange(ctx context.Context, a api.Actor, id string) (api.APChange, error) {
	var out api.APChange
	return out, c.call(ctx, &a, http.MethodGet, "/v1/ap/changes/"+url.PathEscape(id), nil, &out)
}

// APConfirm keeps a pending AP change (admin); 409 when it is no longer pending.
func (c *Client) APConfirm(ctx context.Context, a api.Actor, id string) (api.APChange, error) {
	var out api.APChange
	return out, c.call(ctx, &a, http.MethodPost, "/v1/ap/changes/"+url.PathEscape(id)+"/confirm", nil, &out)
}

// APDenied returns the MAC addresses kept off the AP (viewer).
func (c *Client) APDenied(ctx context.Context, a api.Actor) ([]string, error) {
	var out api.DenyList
	return out.Denied, c.call(ctx, &a, http.MethodGet, "/v1/ap/deny", nil, &out)
}

// APDeny disconnects a station and keeps it off the AP (admin); it returns
// the deny list. 400 (field mac) for a bad address.
func (c *Client) APDeny(ctx context.Context, a api.Actor, mac string) ([]string, error) {
	var out api.DenyList
	return out.Denied, c.call(ctx, &a, http.MethodPost, "/v1/ap/deny", api.DenyRequest{MAC: mac}, &out)
}

// APAllow lets a denied station back on the AP (admin); it returns the deny
// list. 404 when the station is not denied.
func (c *Client) APAllow(ctx context.Context, a api.Actor, mac string) ([]string, error) {
	var out api.DenyList
	return out.Denied, c.call(ctx, &a, http.MethodDelete, "/v1/ap/deny/"+url.PathEscape(mac), nil, &out)
}

// APDHCP returns the AP's DHCP server: range, lease time, static leases,
// and the DHCP change pending, if any (viewer).
func (c *Client) APDHCP(ctx context.Context, a api.Actor) (api.APDHCP, error) {
	var out api.APDHCP
	return out, c.call(ctx, &a, http.MethodGet, "/v1/ap/dhcp", nil, &out)
}

// APDHCPUpdate changes the AP's DHCP server (admin) as a pending change
// that rolls back unless confirmed (APDHCPConfirm). 400 names every bad
// field (Fields); 409 while another change is pending or when nothing
// changes; 503 where the agent cannot apply it (the message says why).
func (c *Client) APDHCPUpdate(ctx context.Context, a api.Actor, u api.APDHCPUpdate) (api.APChange, error) {
	var out api.APChange
	return out, c.call(ctx, &a, http.MethodPut, "/v1/ap/dhcp", u, &out)
}

// APDHCPChange returns a DHCP change's status (viewer); 404 for an
// unknown id.
func (c *Client) APDHCPChange(ctx context.Context, a api.Actor, id string) (api.APChange, error) {
	var out api.APChange
	return out, c.call(ctx, &a, http.MethodGet, "/v1/ap/dhcp/changes/"+url.PathEscape(id), nil, &out)
}

// APDHCPConfirm keeps a pending DHCP change (admin); 409 when it is no
// longer pending.
func (c *Client) APDHCPConfirm(ctx context.Context, a api.Actor, id string) (api.APChange, error) {
	var out api.APChange
	return out, c.call(ctx, &a, http.MethodPost, "/v1/ap/dhcp/changes/"+url.PathEscape(id)+"/confirm", nil, &out)
}

// Audit lists the agent's own audit log (admin), newest first: f's user,
// action prefix, result, since, until and limit (offset is not supported:
// ask for offset+limit and skip).
func (c *Client) Audit(ctx context.Context, a api.Actor, f api.AuditQuery) ([]api.AuditRecord, error) {
	q := url.Values{}
	for k, v := range map[string]string{"user": f.User, "action": f.Action, "result": f.Result} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.Format(time.RFC3339Nano))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(min(f.Limit, api.MaxAuditLimit)))
	}
	var out []api.AuditRecord
	return out, c.call(ctx, &a, http.MethodGet, "/v1/audit?"+q.Encode(), nil, &out)
}

// Commands lists the commands a's role may run, with their parameters.
func (c *Client) Commands(ctx context.Context, a api.Actor) ([]api.Command, error) {
	var out []api.Command
	return out, c.call(ctx, &a, http.MethodGet, "/v1/commands", nil, &out)
}

// StartRun runs command id with params. 400 names every bad parameter
// ("params.NAME"), 403 when a's role may not run it, 404 for an unknown
// command, 409 while a runs it already (RunID names that run), 429 when
// as many commands run as may.
func (c *Client) StartRun(ctx context.Context, a api.Actor, id string, params map[string]string) (api.RunStarted, error) {
	var out api.RunStarted
	return out, c.call(ctx, &a, http.MethodPost, "/v1/commands/"+url.PathEscape(id)+"/runs", api.RunRequest{Params: params}, &out)
}

// Run returns a run with its output; 404 for a run a may not see.
func (c *Client) Run(ctx context.Context, a api.Actor, id int64) (api.Run, error) {
	var out api.Run
	return out, c.call(ctx, &a, http.MethodGet, "/v1/runs/"+strconv.FormatInt(id, 10), nil, &out)
}

// Runs lists a page of the runs q selects, newest first (a's own unless
// a is an admin).
func (c *Client) Runs(ctx context.Context, a api.Actor, q api.RunQuery) (api.RunList, error) {
	v := url.Values{}
	for k, s := range map[string]string{"command": q.Command, "user": q.User, "status": q.Status} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(min(q.Limit, api.MaxRunLimit)))
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	var out api.RunList
	return out, c.call(ctx, &a, http.MethodGet, "/v1/runs?"+v.Encode(), nil, &out)
}

// CancelRun stops a run (its process group gets SIGTERM, then SIGKILL)
// and returns it as it stands; 409 when it has ended already.
func (c *Client) CancelRun(ctx context.Context, a api.Actor, id int64) (api.Run, error) {
	var out api.Run
	return out, c.call(ctx, &a, http.MethodPost, "/v1/runs/"+strconv.FormatInt(id, 10)+"/cancel", nil, &out)
}

// followRetries is how often FollowRun reconnects to a stream that broke.
const followRetries = 5

// FollowRun reads a run's output as it comes (server-sent events), from
// the line after after (0: the first), calling line for each, until the
// run ends; it returns how it ended. A stream that breaks is resumed
// where it stopped (Last-Event-ID).
func (c *Client) FollowRun(ctx context.Context, a api.Actor, id int64, after int64, line func(seq int64, text string)) (api.RunResult, error) {
	var lastErr error
	for try := 0; try <= followRetries; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return api.RunResult{}, context.Cause(ctx)
			case <-time.After(time.Duration(try) * 200 * time.Millisecond):
			}
		}
		res, ended, err := c.follow(ctx, a, id, &after, line)
		if ended || err == nil {
			return res, err
		}
		var ae *api.Error
		if ctx.Err() != nil || errors.As(err, &ae) || errors.Is(err, ErrUnavailable) {
			return api.RunResult{}, err
		}
		lastErr = err
	}
	return api.RunResult{}, lastErr
}

// follow reads one connection's events; ended is set once the end event
// came (with its result, or the error decoding it).
func (c *Client) follow(ctx context.Context, a api.Actor, id int64, after *int64, line func(int64, string)) (res api.RunResult, ended bool, err error) {
	path := "/v1/runs/" + strconv.FormatInt(id, 10) + "/events"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent"+path, nil)
	if err != nil {
		return res, false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if *after > 0 {
		req.Header.Set(api.HeaderLastEventID, strconv.FormatInt(*after, 10))
	}
	resp, err := c.send(req, &a)
	if err != nil {
		return res, false, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 8192), 1<<20)
	var ev sseEvent
	for sc.Scan() {
		l := sc.Text()
		if l != "" {
			ev.add(l)
			continue
		}
		switch ev.event {
		case api.EventRunLine:
			if seq, err := strconv.ParseInt(ev.id, 10, 64); err == nil {
				*after = seq
				if line != nil {
					line(seq, ev.data())
				}
			}
		case api.EventRunEnd:
			if err := json.Unmarshal([]byte(ev.data()), &res); err != nil {
				return res, true, fmt.Errorf("decoding the end of run %d: %w", id, err)
			}
			return res, true, nil
		}
		ev = sseEvent{}
	}
	if err := sc.Err(); err != nil {
		return res, false, fmt.Errorf("reading agent stream %s: %w", path, err)
	}
	return res, false, fmt.Errorf("%s: %w", path, ErrStreamEnded)
}

// sseEvent is one event of a text/event-stream being read.
type sseEvent struct {
	id, event string
	lines     []string
}

func (e *sseEvent) add(l string) {
	if strings.HasPrefix(l, ":") {
		return // a comment
	}
	field, value, _ := strings.Cut(l, ":")
	value = strings.TrimPrefix(value, " ")
	switch field {
	case "id":
		e.id = value
	case "event":
		e.event = value
	case "data":
		e.lines = append(e.lines, value)
	}
}

func (e *sseEvent) data() string { return strings.Join(e.lines, "\n") }

// backupTimeout bounds a backup task that is not a stream: making one
// (the console's database snapshot, scrypt), checking an archive whole,
// restoring the console's part.
const backupTimeout = 5 * time.Minute

// slowCall is call for a task that takes long before it answers.
func (c *Client) slowCall(ctx context.Context, a *api.Actor, method, path string, body, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, backupTimeout)
		defer cancel()
	}
	req, err := newRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	return c.decodeAnswer(c.slow, req, a, out)
}

// decodeAnswer sends req on hc and decodes the JSON answer into out.
func (c *Client) decodeAnswer(hc *http.Client, req *http.Request, a *api.Actor, out any) error {
	resp, err := c.sendOn(hc, req, a)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	shared, err := decodeShared(resp, out)
	if !shared {
		err = json.NewDecoder(resp.Body).Decode(out)
	}
	if err != nil {
		return fmt.Errorf("decoding agent answer to %s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// Backups lists the archives in backup.dir, the last backup made and the
// schedule (admin).
func (c *Client) Backups(ctx context.Context, a api.Actor) (api.BackupList, error) {
	var out api.BackupList
	return out, c.call(ctx, &a, http.MethodGet, "/v1/backups", nil, &out)
}

// CreateBackup makes a manual backup now (admin), encrypted when
// passphrase is set; 409 while another backup task runs.
func (c *Client) CreateBackup(ctx context.Context, a api.Actor, passphrase string) (api.BackupInfo, error) {
	var out api.BackupInfo
	return out, c.slowCall(ctx, &a, http.MethodPost, "/v1/backups", api.BackupCreate{Passphrase: passphrase}, &out)
}

// UploadBackup keeps the archive read from r (admin) once it passes every
// check of a restore: 422 (413 when too large, 400 for its passphrase)
// says why it is refused, and nothing is kept then.
func (c *Client) UploadBackup(ctx context.Context, a api.Actor, passphrase string, r io.Reader) (api.BackupInfo, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, backupTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://agent/v1/backups/upload", r)
	if err != nil {
		return api.BackupInfo{}, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if passphrase != "" {
		req.Header.Set(api.HeaderBackupPassphrase, passphrase)
	}
	var out api.BackupInfo
	return out, c.decodeAnswer(c.slow, req, &a, &out)
}

// DeleteBackup removes an archive (admin) and returns the list then; 404
// for a name the list does not have.
func (c *Client) DeleteBackup(ctx context.Context, a api.Actor, name string) (api.BackupList, error) {
	var out api.BackupList
	return out, c.call(ctx, &a, http.MethodDelete, "/v1/backups/"+url.PathEscape(name), nil, &out)
}

// PreviewRestore says what restoring the archive would change (admin).
func (c *Client) PreviewRestore(ctx context.Context, a api.Actor, name string, r api.RestoreRequest) (api.RestorePlan, error) {
	var out api.RestorePlan
	return out, c.slowCall(ctx, &a, http.MethodPost, "/v1/backups/"+url.PathEscape(name)+"/preview", r, &out)
}

// RestoreBackup restores the archive (admin; the caller checked the
// password typed again and sends none): Done, or the change of the
// agent's settings to confirm (ConfirmRestore) before the console's
// part follows. 409 while another change is pending or interfaces must
// be mapped.
func (c *Client) RestoreBackup(ctx context.Context, a api.Actor, name string, r api.RestoreRequest) (api.RestoreResult, error) {
	var out api.RestoreResult
	return out, c.slowCall(ctx, &a, http.MethodPost, "/v1/backups/"+url.PathEscape(name)+"/restore", r, &out)
}

// RestoreChange returns a restore's change (admin); 404 for an unknown id.
func (c *Client) RestoreChange(ctx context.Context, a api.Actor, id string) (api.BackupChange, error) {
	var out api.BackupChange
	return out, c.call(ctx, &a, http.MethodGet, "/v1/backups/restores/"+url.PathEscape(id), nil, &out)
}

// ConfirmRestore keeps a restore's change and restores the console's
// part (admin); 409 when it is no longer pending.
func (c *Client) ConfirmRestore(ctx context.Context, a api.Actor, id string) (api.BackupChange, error) {
	var out api.BackupChange
	return out, c.slowCall(ctx, &a, http.MethodPost, "/v1/backups/restores/"+url.PathEscape(id)+"/confirm", nil, &out)
}

// SystemReset reads the overlay, what a factory reset keeps and the
// running or last reset (admin).
func (c *Client) SystemReset(ctx context.Context, a api.Actor) (api.SystemReset, error) {
	var out api.SystemReset
	return out, c.call(ctx, &a, http.MethodGet, "/v1/system/reset", nil, &out)
}

// StartReset queues a factory reset and has it run (admin): 202 and the
// queued run. The request carries no password: the console checks it.
func (c *Client) StartReset(ctx context.Context, a api.Actor, req api.ResetRequest) (api.ResetRun, error) {
	var out api.ResetRun
	return out, c.call(ctx, &a, http.MethodPost, "/v1/system/reset", req, &out)
}

// ResetChanges writes the overlay's upper layer, what differs from the
// factory layer, to w as a .tar.gz (admin).
func (c *Client) ResetChanges(ctx context.Context, a api.Actor, w io.Writer) error {
	resp, err := c.do(ctx, &a, http.MethodGet, "/v1/system/reset/changes", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("reading the overlay's changes: %w", err)
	}
	return nil
}

// ResetEvents reads the current reset's events after after (0: all it
// keeps), calling ev for each, until the run is no longer queued or
// running; it returns the last sequence number seen, to resume from
// when the stream broke.
func (c *Client) ResetEvents(ctx context.Context, a api.Actor, after int, ev func(api.ResetEvent)) (int, error) {
	path := "/v1/system/reset/events?after=" + strconv.Itoa(after)
	resp, err := c.do(ctx, &a, http.MethodGet, path, nil)
	if err != nil {
		return after, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 8192), 1<<20)
	for sc.Scan() {
		var e api.ResetEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return after, fmt.Errorf("decoding agent stream %s: %w", path, err)
		}
		after = e.Seq
		ev(e)
	}
	if err := sc.Err(); err != nil {
		return after, fmt.Errorf("reading agent stream %s: %w", path, err)
	}
	return after, nil
}
