package top

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
)

// Header is the frame's summary line: the devices' load and the tmpfs
// budget.
func Header(f Frame) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", f.Time.Format(time.TimeOnly))
	if f.Window > 0 {
		fmt.Fprintf(&b, " over %.1fs", f.Window)
	}
	for _, d := range f.Devices {
		fmt.Fprintf(&b, " | %s (%s): %%util %.0f await %.1fms queue %.1f", d.Name, strings.Join(d.Holds, ", "), d.Util, d.Await, d.QueueDepth)
	}
	if f.TmpfsBudgetUsed >= 0 {
		fmt.Fprintf(&b, " | tmpfs budget %s of %s", units.BytesSize(float64(f.TmpfsBudgetUsed)), units.BytesSize(float64(f.TmpfsBudget)))
	} else {
		fmt.Fprintf(&b, " | tmpfs budget %s", units.BytesSize(float64(f.TmpfsBudget)))
	}
	return b.String()
}

// Write prints a frame as a header, the notes and the table; at most
// maxRows rows when maxRows > 0 (a terminal's height).
func Write(w io.Writer, f Frame, maxRows int) error {
	fmt.Fprintln(w, Header(f))
	for _, n := range f.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var hs []string
	for _, c := range columns {
		hs = append(hs, c.header)
	}
	fmt.Fprintln(tw, strings.Join(hs, "\t"))
	for i, r := range f.Rows {
		if maxRows > 0 && i >= maxRows {
			break
		}
		var cells []string
		for _, c := range columns {
			cells = append(cells, c.cell(r))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}
