package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

var logsCommand = &cli.Command{
	Name:      "logs",
	Usage:     "print a task's log: live from this node's spool, or from S3 (local_dir) after it exited",
	ArgsUsage: "TASK-ID",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Value: "default", EnvVars: []string{"CONTAINERD_NAMESPACE"}, Usage: "containerd namespace (k8s.io under Kubernetes)"},
		&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "follow a running task to its end"},
		&cli.StringFlag{Name: "stream", Usage: "only stdout or stderr"},
		&cli.BoolFlag{Name: "timestamps", Usage: "prefix each line with its time"},
		&cli.BoolFlag{Name: "metadata", Usage: "print the stored object's metadata (exit code, byte counts, usage) instead of the log"},
	},
	Action: func(c *cli.Context) error {
		id := c.Args().First()
		if id == "" || c.NArg() > 1 {
			return fmt.Errorf("usage: briskctl logs [-n NAMESPACE] [-f] TASK-ID")
		}
		stream := spool.Stream(c.String("stream"))
		if stream != "" && stream != spool.Stdout && stream != spool.Stderr {
			return fmt.Errorf("--stream %q: want stdout or stderr", stream)
		}
		cfg, err := loadConfig(c)
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
		defer stop()
		p := &printer{stdout: c.App.Writer, stderr: c.App.ErrWriter, only: stream, timestamps: c.Bool("timestamps")}
		if p.stderr == nil {
			p.stderr = os.Stderr
		}
		ns := c.String("namespace")

		dir := spool.Dir(cfg.Logs.SpoolDir, ns, id)
		if _, err := spool.ReadMeta(dir); err == nil && !c.Bool("metadata") {
			if !c.Bool("follow") {
				f, err := os.Open(dir + "/" + spool.LogFile)
				if err == nil {
					defer f.Close()
					return spool.Decode(f, p.print)
				}
			} else {
				finished, err := spool.Follow(ctx, dir, p.print)
				if err != nil || finished {
					return err
				}
				// Shipped while we followed: the rest is in the store.
			}
		}
		shipper, err := ship.New(ctx, cfg.Logs)
		if err != nil {
			return err
		}
		key := shipper.KeyFor(ns, id)
		body, meta, err := shipper.Store().Get(ctx, key)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || isNoSuchKey(err) {
				notFound := fmt.Errorf("no log for task %q in namespace %q: not live in %s and not in %s (key %s)", id, ns, cfg.Logs.SpoolDir, shipper.Store(), key)
				// A pod's task ID names its containers' logs, one level down.
				if below, lerr := shipper.IDsUnder(ctx, ns, id, 20); lerr == nil && len(below) > 0 {
					return fmt.Errorf("%w; the logs under it are:\n  %s", notFound, strings.Join(below, "\n  "))
				}
				return notFound
			}
			return fmt.Errorf("read %s from %s: %w", key, shipper.Store(), err)
		}
		if c.Bool("metadata") {
			keys := make([]string, 0, len(meta))
			for k := range meta {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(c.App.Writer, "%s: %s%s\n", k, meta[k], readable(k, meta[k]))
			}
			return nil
		}
		p.skip = p.printed // a follow cut short by shipping already printed these
		p.printed = 0
		return spool.Decode(bytes.NewReader(body), p.print)
	},
}

func isNoSuchKey(err error) bool {
	var apiErr interface{ ErrorCode() string }
	return errors.As(err, &apiErr) && (apiErr.ErrorCode() == "NoSuchKey" || apiErr.ErrorCode() == "NotFound")
}

// printer writes records back as the task wrote them: stdout to stdout,
// stderr to stderr, optionally with each line's time.
type printer struct {
	stdout, stderr io.Writer
	only           spool.Stream
	timestamps     bool
	midLine        map[spool.Stream]bool
	printed, skip  int
}

func (p *printer) print(r spool.Record) error {
	p.printed++
	if p.printed <= p.skip {
		return nil
	}
	if p.only != "" && r.Stream != p.only {
		return nil
	}
	if p.midLine == nil {
		p.midLine = map[spool.Stream]bool{}
	}
	w := p.stdout
	if r.Stream == spool.Stderr {
		w = p.stderr
	}
	if p.timestamps && !p.midLine[r.Stream] {
		fmt.Fprint(w, r.Time.Format(time.RFC3339Nano), " ")
	}
	p.midLine[r.Stream] = r.Partial
	_, err := w.Write(r.Bytes())
	return err
}

// readable renders a figure whose key names its unit (-bytes, -ns, -us) for
// a person, as " (35.2MiB)"; "" for anything else and for bytes that read
// well as they are.
func readable(key, value string) string {
	n, err := strconv.ParseUint(value, 10, 64)
	if err != nil {
		return ""
	}
	switch {
	case strings.HasSuffix(key, "-bytes") && n >= 1024:
		return " (" + units.BytesSize(float64(n)) + ")"
	case strings.HasSuffix(key, "-ns"):
		return " (" + time.Duration(n).Round(100*time.Microsecond).String() + ")"
	case strings.HasSuffix(key, "-us"):
		return " (" + (time.Duration(n) * time.Microsecond).Round(100*time.Microsecond).String() + ")"
	}
	return ""
}
