package web

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/devmgr/devmgr/internal/agent/api"
)

// rateText writes a rate of bytes per second as bits per second, the unit
// of links: "0 bit/s", "12.5 kbit/s", "940 Mbit/s".
func rateText(bytesPerSecond uint64) string {
	v := float64(bytesPerSecond) * 8
	units := []string{"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"}
	i := 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	switch {
	case i == 0:
		return fmt.Sprintf("%.0f %s", v, units[i])
	case v < 10:
		return fmt.Sprintf("%.2f %s", v, units[i])
	default:
		return fmt.Sprintf("%.1f %s", v, units[i])
	}
}

// sparkView is a traffic sparkline drawn on the server: two polylines in a
// 120×32 box, scaled to the busiest sample (at least 1 kB/s, so that a few
// stray packets do not fill it).
type sparkView struct {
	Rx, Tx string // SVG points
	Title  string
}

const (
	sparkW, sparkH = 120.0, 32.0
	sparkFloor     = 1000 // bytes per second
)

// sparkline draws the last n samples; fewer samples start at the right.
func sparkline(samples []api.TrafficSample, n int, title string) *sparkView {
	if len(samples) < 2 {
		return nil
	}
	if len(samples) > n {
		samples = samples[len(samples)-n:]
	}
	peak := uint64(sparkFloor)
	for _, s := range samples {
		peak = max(peak, s.RxBps, s.TxBps)
	}
	step := sparkW / float64(n-1)
	off := n - len(samples)
	points := func(v func(api.TrafficSample) uint64) string {
		var b strings.Builder
		for k, s := range samples {
			if k > 0 {
				b.WriteByte(' ')
			}
			x := float64(off+k) * step
			y := sparkH - 1 - float64(v(s))/float64(peak)*(sparkH-3)
			b.WriteString(strconv.FormatFloat(x, 'f', 1, 64) + "," + strconv.FormatFloat(y, 'f', 1, 64))
		}
		return b.String()
	}
	return &sparkView{
		Rx:    points(func(s api.TrafficSample) uint64 { return s.RxBps }),
		Tx:    points(func(s api.TrafficSample) uint64 { return s.TxBps }),
		Title: title,
	}
}
