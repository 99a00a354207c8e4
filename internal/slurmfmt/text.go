package slurmfmt

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gefion-hpc/gefion/internal/textsafe"
)

// Env is what formatting needs besides the records: the clock (elapsed
// times of running jobs), the time zone of timestamps and the mapping from
// user names to numeric IDs, which Slurm prints in places.
type Env struct {
	// Now is the current time in Unix seconds.
	Now int64
	// Loc is the zone timestamps are printed in; nil is time.Local.
	Loc *time.Location
	// UID returns a user's numeric ID; nil, or ok false, prints the name
	// where Slurm prints a number.
	UID func(user string) (uid int, ok bool)
	// Group returns a user's primary group and its ID (scontrol's
	// GroupId); nil prints (null).
	Group func(user string) (name string, gid int, ok bool)
	// Cluster is the cluster's name (sacct's Cluster, scontrol's
	// ClusterName).
	Cluster string
}

func (e *Env) loc() *time.Location {
	if e.Loc == nil {
		return time.Local
	}
	return e.Loc
}

// uid prints a user's numeric ID, or the name when it is unknown.
func (e *Env) uid(user string) string {
	if e.UID != nil {
		if n, ok := e.UID(user); ok {
			return strconv.Itoa(n)
		}
	}
	return user
}

// stamp prints Unix seconds as Slurm's timestamps (2006-01-02T15:04:05 in
// local time); zero prints none.
func (e *Env) stamp(s int64, none string) string {
	if s <= 0 {
		return none
	}
	return time.Unix(s, 0).In(e.loc()).Format("2006-01-02T15:04:05")
}

// clockShort prints seconds as squeue's TIME column does: M:SS, H:MM:SS or
// D-HH:MM:SS.
func clockShort(s int64) string {
	if s < 0 {
		s = 0
	}
	d, h, m, sec := s/86400, s%86400/3600, s%3600/60, s%60
	b := make([]byte, 0, 16)
	switch {
	case d > 0:
		b = strconv.AppendInt(b, d, 10)
		b = append(b, '-')
		b = two(b, h)
		b = append(b, ':')
		b = two(b, m)
	case h > 0:
		b = strconv.AppendInt(b, h, 10)
		b = append(b, ':')
		b = two(b, m)
	default:
		b = strconv.AppendInt(b, m, 10)
	}
	b = append(b, ':')
	b = two(b, sec)
	return string(b)
}

// clockLong prints seconds as sacct and scontrol do: HH:MM:SS or
// D-HH:MM:SS.
func clockLong(s int64) string {
	if s < 0 {
		s = 0
	}
	d, h, m, sec := s/86400, s%86400/3600, s%3600/60, s%60
	b := make([]byte, 0, 16)
	if d > 0 {
		b = strconv.AppendInt(b, d, 10)
		b = append(b, '-')
	}
	b = two(b, h)
	b = append(b, ':')
	b = two(b, m)
	b = append(b, ':')
	b = two(b, sec)
	return string(b)
}

func two(b []byte, v int64) []byte {
	if v < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, v, 10)
}

// limitShort and limitLong print a time limit; zero or negative is
// UNLIMITED.
func limitShort(s int64) string {
	if s <= 0 {
		return "UNLIMITED"
	}
	return clockShort(s)
}

func limitLong(s int64) string {
	if s <= 0 {
		return "UNLIMITED"
	}
	return clockLong(s)
}

// memText prints MiB as Slurm's TRES strings do: the largest of M, G, T and
// P that divides the value exactly (4096 is 4G, 2000000 stays 2000000M).
func memText(mb int64) string {
	units := "MGTP"
	u := 0
	for mb != 0 && mb%1024 == 0 && u < len(units)-1 {
		mb /= 1024
		u++
	}
	return strconv.FormatInt(mb, 10) + units[u:u+1]
}

// safe escapes user text so that it cannot break a row.
func safe(s string) string { return textsafe.Field(s) }

// orNull prints Slurm's (null) for an empty value.
func orNull(s string) string {
	if s == "" {
		return "(null)"
	}
	return s
}

// cut shortens s to at most n bytes without splitting a character.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// appendPadded appends s in a column of width w (0: as it is), cut to w,
// right-aligned if right.
func appendPadded(b []byte, s string, w int, right bool) []byte {
	if w <= 0 {
		return append(b, s...)
	}
	s = cut(s, w)
	pad := w - utf8.RuneCountInString(s)
	if right {
		b = appendSpaces(b, pad)
	}
	b = append(b, s...)
	if !right {
		b = appendSpaces(b, pad)
	}
	return b
}

func appendSpaces(b []byte, n int) []byte {
	for ; n > 0; n-- {
		b = append(b, ' ')
	}
	return b
}
