package top

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	units "github.com/docker/go-units"
)

// column is one column of the table: its --sort key, its header, how to
// print a row's cell, and the value it sorts by.
type column struct {
	key, header string
	cell        func(Row) string
	// num sorts largest first; text sorts when num is nil, A to Z.
	num  func(Row) float64
	text func(Row) string
}

var columns = []column{
	{key: "namespace", header: "NAMESPACE", cell: func(r Row) string { return r.Namespace }, text: func(r Row) string { return r.Namespace }},
	{key: "id", header: "ID", cell: func(r Row) string { return r.ID }, text: func(r Row) string { return r.ID }},
	{key: "runtime", header: "RUNTIME", cell: func(r Row) string { return strings.TrimPrefix(r.Runtime, "io.containerd.") }, text: func(r Row) string { return r.Runtime }},
	{key: "upper", header: "UPPER", cell: func(r Row) string { return orDash(r.Upper) }, text: func(r Row) string { return r.Upper }},
	{key: "inodes", header: "INODES%", cell: func(r Row) string { return percent(r.InodesPercent()) }, num: Row.InodesPercent},
	{key: "bytes", header: "BYTES%", cell: func(r Row) string { return percent(r.BytesPercent()) }, num: Row.BytesPercent},
	{key: "write", header: "WRITE/s", cell: func(r Row) string { return rate(r.WriteBps) }, num: func(r Row) float64 { return r.WriteBps }},
	{key: "wcalls", header: "WCALLS/s", cell: func(r Row) string { return fmt.Sprintf("%.0f", r.WriteOps) }, num: func(r Row) float64 { return r.WriteOps }},
	{key: "read", header: "READ/s", cell: func(r Row) string { return rate(r.ReadBps) }, num: func(r Row) float64 { return r.ReadBps }},
	{key: "diskw", header: "DISKW/s", cell: func(r Row) string { return rate(r.DiskWriteBps) }, num: func(r Row) float64 { return r.DiskWriteBps }},
	{key: "diskr", header: "DISKR/s", cell: func(r Row) string { return rate(r.DiskReadBps) }, num: func(r Row) float64 { return r.DiskReadBps }},
	{key: "spool", header: "SPOOL", cell: func(r Row) string {
		if r.Spool < 0 {
			return "-"
		}
		return units.BytesSize(float64(r.Spool))
	}, num: func(r Row) float64 { return float64(r.Spool) }},
}

// SortKeys lists what --sort accepts.
func SortKeys() []string {
	var ks []string
	for _, c := range columns {
		ks = append(ks, c.key)
	}
	return ks
}

// Sort orders rows by the column named key: numbers largest first, text
// A to Z, ties by namespace and ID so that the order is stable between
// refreshes.
func Sort(rows []Row, key string) error {
	i := slices.IndexFunc(columns, func(c column) bool { return c.key == key })
	if i < 0 {
		return fmt.Errorf("sort column %q: want one of %s: %w", key, strings.Join(SortKeys(), ", "), errdefs.ErrInvalidArgument)
	}
	c := columns[i]
	slices.SortStableFunc(rows, func(a, b Row) int {
		var o int
		if c.num != nil {
			o = cmp.Compare(c.num(b), c.num(a))
		} else {
			o = cmp.Compare(c.text(a), c.text(b))
		}
		if o != 0 {
			return o
		}
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.ID, b.ID))
	})
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func percent(p float64) string {
	if p < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", p)
}

func rate(bps float64) string {
	if bps < 1 {
		return "0"
	}
	return units.BytesSize(bps)
}
