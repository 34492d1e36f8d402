package web

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// The answers of the two API reads that every client polls, /api/v1/me and
// /api/v1/system, written without reflection: encoding/json was most of
// their handlers' CPU. The bytes are those writeJSON writes (indented by
// two spaces, HTML characters escaped); TestFastJSON compares them.

func (m meResponse) appendJSON(b []byte) []byte {
	b = append(b, "{\n  \"username\": "...)
	b = appendJSONString(b, m.Username)
	b = append(b, ",\n  \"role\": "...)
	b = appendJSONString(b, m.Role)
	return append(b, "\n}\n"...)
}

func (s *System) appendJSON(b []byte) []byte {
	const in = "  "
	b = append(b, "{\n  \"time\": \""...)
	b = s.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = appendJSONString(jsonKey(b, in, "hostname"), s.Hostname)
	b = appendJSONString(jsonKey(b, in, "os"), s.OS)
	b = appendJSONString(jsonKey(b, in, "kernel"), s.Kernel)
	b = strconv.AppendInt(jsonKey(b, in, "uptime_seconds"), s.UptimeSec, 10)
	b = appendJSONArray(jsonKey(b, in, "load"), false, len(s.Load), in, func(b []byte, i int) []byte { return appendJSONFloat(b, s.Load[i]) })
	b = strconv.AppendUint(jsonKey(b, in, "mem_total"), s.MemTotal, 10)
	b = strconv.AppendUint(jsonKey(b, in, "mem_available"), s.MemAvailable, 10)
	b = strconv.AppendUint(jsonKey(b, in, "mem_used"), s.MemUsed, 10)
	b = appendJSONString(jsonKey(b, in, "disk_path"), s.DiskPath)
	b = strconv.AppendUint(jsonKey(b, in, "disk_total"), s.DiskTotal, 10)
	b = strconv.AppendUint(jsonKey(b, in, "disk_free"), s.DiskFree, 10)
	b = strconv.AppendUint(jsonKey(b, in, "disk_used"), s.DiskUsed, 10)
	b = appendJSONArray(jsonKey(b, in, "interfaces"), s.Interfaces == nil, len(s.Interfaces), in,
		func(b []byte, i int) []byte { return s.Interfaces[i].appendJSON(b) })
	return append(b, "\n}\n"...)
}

// appendJSON writes an interface as an element of System's list.
func (x Interface) appendJSON(b []byte) []byte {
	const in = "      "
	b = append(b, "{\n      \"name\": "...)
	b = appendJSONString(b, x.Name)
	b = appendJSONString(jsonKey(b, in, "state"), x.State)
	if x.MAC != "" {
		b = appendJSONString(jsonKey(b, in, "mac"), x.MAC)
	}
	b = strconv.AppendInt(jsonKey(b, in, "mtu"), int64(x.MTU), 10)
	b = appendJSONArray(jsonKey(b, in, "addrs"), x.Addrs == nil, len(x.Addrs), in,
		func(b []byte, i int) []byte { return appendJSONString(b, x.Addrs[i]) })
	return append(b, "\n    }"...)
}

// jsonKey appends a member's key after the one before it, at indent.
func jsonKey(b []byte, indent, key string) []byte {
	b = append(append(append(b, ",\n"...), indent...), '"')
	return append(append(b, key...), "\": "...)
}

// appendJSONArray appends an array of n elements as writeJSON indents one
// whose key is at indent: null for a nil slice, [] for an empty one.
func appendJSONArray(b []byte, isNil bool, n int, indent string, elem func(b []byte, i int) []byte) []byte {
	switch {
	case isNil:
		return append(b, "null"...)
	case n == 0:
		return append(b, "[]"...)
	}
	b = append(b, '[')
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(append(b, '\n'), indent...), "  "...)
		b = elem(b, i)
	}
	return append(append(append(b, '\n'), indent...), ']')
}

// writeJSONBytes answers with a JSON body made by one of the appendJSON
// methods.
func writeJSONBytes(w http.ResponseWriter, status int, appendJSON func([]byte) []byte) {
	p := jsonBuffers.Get().(*[]byte)
	b := appendJSON((*p)[:0])
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
	if cap(b) <= maxPooledBuffer {
		*p = b
		jsonBuffers.Put(p)
	}
}

var jsonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json does: <, > and & and
// control characters as \u00XX (but \b, \f, \n, \r, \t), U+2028 and U+2029
// escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, "\uFFFD"...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONFloat appends f as encoding/json does (finite values only: a
// load average is one).
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
