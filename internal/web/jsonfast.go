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
	b = append(b, "{\n  \"time\": \""...)
	b = s.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, "\",\n  \"hostname\": "...)
	b = appendJSONString(b, s.Hostname)
	b = append(b, ",\n  \"os\": "...)
	b = appendJSONString(b, s.OS)
	b = append(b, ",\n  \"kernel\": "...)
	b = appendJSONString(b, s.Kernel)
	b = append(b, ",\n  \"uptime_seconds\": "...)
	b = strconv.AppendInt(b, s.UptimeSec, 10)
	b = append(b, ",\n  \"load\": [\n    "...)
	for i, l := range s.Load {
		if i > 0 {
			b = append(b, ",\n    "...)
		}
		b = appendJSONFloat(b, l)
	}
	b = append(b, "\n  ],\n  \"mem_total\": "...)
	b = strconv.AppendUint(b, s.MemTotal, 10)
	b = append(b, ",\n  \"mem_available\": "...)
	b = strconv.AppendUint(b, s.MemAvailable, 10)
	b = append(b, ",\n  \"mem_used\": "...)
	b = strconv.AppendUint(b, s.MemUsed, 10)
	b = append(b, ",\n  \"disk_path\": "...)
	b = appendJSONString(b, s.DiskPath)
	b = append(b, ",\n  \"disk_total\": "...)
	b = strconv.AppendUint(b, s.DiskTotal, 10)
	b = append(b, ",\n  \"disk_free\": "...)
	b = strconv.AppendUint(b, s.DiskFree, 10)
	b = append(b, ",\n  \"disk_used\": "...)
	b = strconv.AppendUint(b, s.DiskUsed, 10)
	b = append(b, ",\n  \"interfaces\": "...)
	switch {
	case s.Interfaces == nil:
		b = append(b, "null"...)
	case len(s.Interfaces) == 0:
		b = append(b, "[]"...)
	default:
		b = append(b, "[\n    "...)
		for i, x := range s.Interfaces {
			if i > 0 {
				b = append(b, ",\n    "...)
			}
			b = x.appendJSON(b)
		}
		b = append(b, "\n  ]"...)
	}
	return append(b, "\n}\n"...)
}

// appendJSON writes an interface as an element of System's list.
func (x Interface) appendJSON(b []byte) []byte {
	b = append(b, "{\n      \"name\": "...)
	b = appendJSONString(b, x.Name)
	b = append(b, ",\n      \"state\": "...)
	b = appendJSONString(b, x.State)
	if x.MAC != "" {
		b = append(b, ",\n      \"mac\": "...)
		b = appendJSONString(b, x.MAC)
	}
	b = append(b, ",\n      \"mtu\": "...)
	b = strconv.AppendInt(b, int64(x.MTU), 10)
	b = append(b, ",\n      \"addrs\": "...)
	switch {
	case x.Addrs == nil:
		b = append(b, "null"...)
	case len(x.Addrs) == 0:
		b = append(b, "[]"...)
	default:
		b = append(b, "[\n        "...)
		for i, a := range x.Addrs {
			if i > 0 {
				b = append(b, ",\n        "...)
			}
			b = appendJSONString(b, a)
		}
		b = append(b, "\n      ]"...)
	}
	return append(b, "\n    }"...)
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
