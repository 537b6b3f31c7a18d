package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/top"
)

var topCommand = &cli.Command{
	Name:  "top",
	Usage: "show which running containers write and read most, with their upper's fill and the disk's load",
	Description: `Rates come from /proc/PID/io of every process in each container's cgroup:
   WRITE/s and READ/s are bytes passed to write and read calls (tmpfs, pipes and
   disk alike), WCALLS/s the write calls, DISKW/s and DISKR/s what reached a
   block device. Processes that start and exit between two refreshes are not
   seen, as with iotop. Sort keys: ` + strings.Join(top.SortKeys(), ", ") + `.`,
	Flags: []cli.Flag{
		containerdAddressFlag(),
		&cli.DurationFlag{Name: "interval", Aliases: []string{"d"}, Value: 2 * time.Second, Usage: "refresh interval, and the sample window of --once"},
		&cli.BoolFlag{Name: "once", Usage: "measure one interval, print and exit"},
		&cli.BoolFlag{Name: "json", Usage: "print each refresh as one JSON object"},
		&cli.StringFlag{Name: "sort", Aliases: []string{"s"}, Value: "write", Usage: "column to sort by"},
	},
	Action: func(c *cli.Context) error {
		cfg, err := loadConfig(c)
		if err != nil {
			return err
		}
		interval := c.Duration("interval")
		if interval <= 0 {
			return fmt.Errorf("--interval %v: must be positive", interval)
		}
		sortKey := c.String("sort")
		if err := top.Sort(nil, sortKey); err != nil {
			return err
		}
		ctd, err := client.New(c.String("address"))
		if err != nil {
			return fmt.Errorf("containerd at %s: %w", c.String("address"), err)
		}
		defer ctd.Close()
		ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
		defer stop()

		out := newTopOutput(c.App.Writer, c.Bool("json"), c.Bool("once"))
		s := top.NewSampler(ctd, cfg)
		if _, err := s.Sample(ctx); err != nil {
			return err
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
			f, err := s.Sample(ctx)
			if err != nil {
				return err
			}
			if err := top.Sort(f.Rows, sortKey); err != nil {
				return err
			}
			if err := out.frame(f); err != nil {
				return err
			}
			if c.Bool("once") {
				return nil
			}
		}
	},
}

// topOutput is a redrawn screen on a terminal, and on anything else
// (a pipe, a file) plain frames one after another.
type topOutput struct {
	w        io.Writer
	json     bool
	once     bool
	terminal int // the terminal's fd, or -1
}

func newTopOutput(w io.Writer, asJSON, once bool) *topOutput {
	o := &topOutput{w: w, json: asJSON, once: once, terminal: -1}
	if f, ok := w.(*os.File); ok {
		if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			o.terminal = int(f.Fd())
		}
	}
	return o
}

func (o *topOutput) frame(f top.Frame) error {
	if o.json {
		enc := json.NewEncoder(o.w)
		if o.once {
			enc.SetIndent("", "  ")
		}
		return enc.Encode(f)
	}
	if o.terminal < 0 || o.once {
		if err := top.Write(o.w, f, 0); err != nil {
			return err
		}
		_, err := fmt.Fprintln(o.w)
		return err
	}
	rows := 0
	if ws, err := unix.IoctlGetWinsize(o.terminal, unix.TIOCGWINSZ); err == nil {
		rows = int(ws.Row) - 3 - len(f.Notes)
	}
	// Home and clear, then the frame: a screen that redraws like top.
	fmt.Fprint(o.w, "\x1b[H\x1b[2J")
	return top.Write(o.w, f, max(rows, 1))
}
