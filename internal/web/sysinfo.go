package web

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// SysInfo reads the state the dashboard shows. HostSysInfo reads this
// host; the agent client will provide another implementation.
type SysInfo interface {
	Snapshot(ctx context.Context) (System, error)
}

// System is the dashboard's view of the machine.
type System struct {
	Time         time.Time     `json:"time"`
	Hostname     string        `json:"hostname"`
	OS           string        `json:"os"`
	Kernel       string        `json:"kernel"`
	Uptime       time.Duration `json:"-"`
	UptimeSec    int64         `json:"uptime_seconds"`
	Load         [3]float64    `json:"load"`
	MemTotal     uint64        `json:"mem_total"`
	MemAvailable uint64        `json:"mem_available"`
	MemUsed      uint64        `json:"mem_used"`
	DiskPath     string        `json:"disk_path"`
	DiskTotal    uint64        `json:"disk_total"`
	DiskFree     uint64        `json:"disk_free"`
	DiskUsed     uint64        `json:"disk_used"`
	Interfaces   []Interface   `json:"interfaces"`
}

// Interface is one network interface in the dashboard's summary.
type Interface struct {
	Name  string   `json:"name"`
	State string   `json:"state"` // up, down, or no-carrier (up without a link)
	MAC   string   `json:"mac,omitempty"`
	MTU   int      `json:"mtu"`
	Addrs []string `json:"addrs"`
}

// HostSysInfo reads this host's state from /proc, /etc/os-release, uname,
// statfs and net.Interfaces, without starting processes.
type HostSysInfo struct {
	// DiskPath is the file system whose usage is shown; empty means /.
	DiskPath string
	// Root prefixes /proc and /etc paths; empty means the real root (tests
	// point it at a fixture tree).
	Root string
}

// Snapshot implements SysInfo. Parts that cannot be read are left empty
// rather than failing the whole dashboard.
func (h HostSysInfo) Snapshot(ctx context.Context) (System, error) {
	sys := h.facts()
	err := h.changing(&sys)
	return sys, err
}

// facts reads what changes only with a reboot or a reconfiguration: the
// host name, the OS and the kernel.
func (h HostSysInfo) facts() System {
	var sys System
	sys.Hostname, _ = os.Hostname()
	sys.OS = osPrettyName(h.read("/etc/os-release"), h.read("/usr/lib/os-release"))
	var u syscall.Utsname
	if err := syscall.Uname(&u); err == nil {
		sys.Kernel = utsString(u.Sysname[:]) + " " + utsString(u.Release[:])
	}
	return sys
}

// changing reads the rest into sys: the time, uptime, load, memory, disk
// and interfaces.
func (h HostSysInfo) changing(sys *System) error {
	sys.Time = time.Now()
	if f := strings.Fields(string(h.read("/proc/uptime"))); len(f) > 0 {
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			sys.Uptime = time.Duration(v * float64(time.Second))
			sys.UptimeSec = int64(v)
		}
	}
	if f := strings.Fields(string(h.read("/proc/loadavg"))); len(f) >= 3 {
		for i := range 3 {
			sys.Load[i], _ = strconv.ParseFloat(f[i], 64)
		}
	}
	mem := parseMeminfo(h.read("/proc/meminfo"))
	sys.MemTotal, sys.MemAvailable = mem["MemTotal"], mem["MemAvailable"]
	if sys.MemAvailable <= sys.MemTotal {
		sys.MemUsed = sys.MemTotal - sys.MemAvailable
	}
	sys.DiskPath = h.DiskPath
	if sys.DiskPath == "" {
		sys.DiskPath = "/"
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(sys.DiskPath, &st); err == nil {
		sys.DiskTotal = st.Blocks * uint64(st.Bsize)
		sys.DiskFree = st.Bavail * uint64(st.Bsize)
		sys.DiskUsed = (st.Blocks - st.Bfree) * uint64(st.Bsize)
	}
	ifs, err := interfaces()
	if err != nil {
		return fmt.Errorf("listing interfaces: %w", err)
	}
	sys.Interfaces = ifs
	return nil
}

// sysInterval is how old the changing part of the system's state the
// console shows may be.
const sysInterval = time.Second

// hostSys is HostSysInfo as the console reads it on every dashboard and
// /api/v1/system request: the host name, OS and kernel read once, the rest
// at most once per sysInterval. The System it returns shares its slices
// with other callers: they are read, never changed.
type hostSys struct {
	h   HostSysInfo
	now func() time.Time

	once  sync.Once
	facts System

	mu   sync.Mutex
	at   time.Time
	last System
	err  error
}

func newHostSys(h HostSysInfo) *hostSys { return &hostSys{h: h, now: time.Now} }

// Snapshot implements SysInfo.
func (c *hostSys) Snapshot(ctx context.Context) (System, error) {
	c.once.Do(func() { c.facts = c.h.facts() })
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if d := now.Sub(c.at); c.at.IsZero() || d >= sysInterval || d < 0 {
		sys := c.facts
		c.err = c.h.changing(&sys)
		c.last, c.at = sys, now
	}
	sys := c.last
	sys.Time = now
	return sys, c.err
}

func (h HostSysInfo) read(path string) []byte {
	b, _ := os.ReadFile(h.Root + path)
	return b
}

func interfaces() ([]Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := make([]Interface, 0, len(ifs))
	for _, ifi := range ifs {
		i := Interface{Name: ifi.Name, MTU: ifi.MTU, MAC: ifi.HardwareAddr.String(), Addrs: []string{}}
		switch {
		case ifi.Flags&net.FlagUp == 0:
			i.State = "down"
		case ifi.Flags&net.FlagRunning == 0:
			i.State = "no-carrier"
		default:
			i.State = "up"
		}
		if addrs, err := ifi.Addrs(); err == nil {
			for _, a := range addrs {
				i.Addrs = append(i.Addrs, a.String())
			}
		}
		out = append(out, i)
	}
	return out, nil
}

// osPrettyName returns PRETTY_NAME from the first os-release file that has it.
func osPrettyName(files ...[]byte) string {
	for _, b := range files {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), "=")
			if !ok || strings.TrimSpace(k) != "PRETTY_NAME" {
				continue
			}
			v = strings.TrimSpace(v)
			if uq, err := strconv.Unquote(v); err == nil {
				v = uq
			} else {
				v = strings.Trim(v, `"'`)
			}
			return v
		}
	}
	return "Linux"
}

// parseMeminfo returns /proc/meminfo's values in bytes.
func parseMeminfo(b []byte) map[string]uint64 {
	m := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		m[k] = n
	}
	return m
}

func utsString[T int8 | uint8](b []T) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}
