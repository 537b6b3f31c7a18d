package main

import (
	"bytes"
	"context"
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
	"unicode"
	"unicode/utf8"

	"github.com/brisk-containers/brisk/logs/store"

	"github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

var logsCommand = &cli.Command{
	Name:      "logs",
	Usage:     "print a task's log: live from this node's spool, or from S3 (local_dir) after it exited, or through a brisk-logd (--server) from anywhere; the latest run unless told",
	ArgsUsage: "TASK-ID",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Value: "default", EnvVars: []string{"CONTAINERD_NAMESPACE"}, Usage: "containerd namespace (k8s.io under Kubernetes)"},
		&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "follow a running task to its end"},
		&cli.StringFlag{Name: "stream", Usage: "only stdout or stderr"},
		&cli.BoolFlag{Name: "timestamps", Usage: "prefix each line with its time"},
		&cli.BoolFlag{Name: "metadata", Usage: "print the stored object's metadata (exit code, byte counts, usage) instead of the log, values decoded (RFC 2047); a value with a control character or invalid UTF-8 is printed Go-quoted"},
		&cli.IntFlag{Name: "run", Usage: "the Nth run of the ID, 1 being the oldest (default: the latest)"},
		&cli.BoolFlag{Name: "all-runs", Usage: "every run of the ID, oldest first, each after a header on stderr"},
		&cli.StringFlag{Name: "around", Usage: "batch mode, when the index is behind (no compactor running): look in the batches stored around this time (RFC 3339, or a duration ago: 20m) instead of the index"},
		&cli.DurationFlag{Name: "within", Value: 15 * time.Minute, Usage: "with --around: how far either side of it to look"},
		&cli.StringFlag{Name: "node", Usage: "with --around: only the batches of this node (its logs.api.node_name)"},
		&cli.StringFlag{Name: "server", Usage: "read through this brisk-logd (https://HOST:7717, or unix:///run/brisk/logd.sock on a node) instead of this machine's spool and store; \"\" for none (default: briskctl.server)"},
		&cli.StringFlag{Name: "token-file", Usage: "file holding the bearer token for --server (default: briskctl.token_file)"},
		&cli.StringFlag{Name: "ca-file", Usage: "PEM CA that signed an https --server's certificate (default: briskctl.ca_file, else the system's roots)"},
	},
	Action: func(c *cli.Context) error {
		args, err := trailingFlags(c)
		if err != nil {
			return err
		}
		if len(args) != 1 || args[0] == "" {
			return fmt.Errorf("usage: briskctl logs [-n NAMESPACE] [-f] [--run N | --all-runs] TASK-ID [--server URL [--token-file FILE] [--ca-file FILE]]")
		}
		id := args[0]
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
		stderr := c.App.ErrWriter
		if stderr == nil {
			stderr = os.Stderr
		}
		ns := c.String("namespace")
		if server := fromFlagOrConfig(c, "server", "briskctl.server", cfg.Briskctl.Server); server.value != "" {
			return logsThroughServer(ctx, c, cfg, server, ns, id, stream, stderr)
		}
		shipper, err := ship.New(ctx, cfg.Logs)
		if err != nil {
			return err
		}
		// Every run for --run and --all-runs; the latest otherwise, in
		// one or two listing requests however many runs the ID has.
		var runs []ship.Run
		var listErr error
		all := true
		switch {
		case c.IsSet("around"):
			around, err := parseAround(c.String("around"), time.Now())
			if err != nil {
				return err
			}
			runs, listErr = shipper.RunsNear(ctx, ns, id, c.String("node"), around, c.Duration("within"))
		case c.Bool("all-runs") || c.IsSet("run"):
			runs, listErr = shipper.Runs(ctx, ns, id)
		default:
			runs, all, listErr = shipper.RecentRuns(ctx, ns, id)
		}
		if len(runs) == 0 {
			if listErr != nil {
				return fmt.Errorf("no log for task %q in namespace %q live in %s, and %w", id, ns, cfg.Logs.SpoolDir, listErr)
			}
			notFound := fmt.Errorf("no log for task %q in namespace %q: not live in %s and not in %s", id, ns, cfg.Logs.SpoolDir, shipper.Store())
			// A pod's task ID names its containers' logs, one level down.
			if below, lerr := shipper.IDsUnder(ctx, ns, id, 20); lerr == nil && len(below) > 0 {
				return fmt.Errorf("%w; the logs under it are:\n  %s", notFound, strings.Join(below, "\n  "))
			}
			return notFound
		}
		selected := []int{len(runs) - 1}
		switch {
		case c.Bool("all-runs"):
			selected = selected[:0]
			for i := range runs {
				selected = append(selected, i)
			}
		case c.IsSet("run"):
			n := c.Int("run")
			if n < 1 || n > len(runs) {
				return fmt.Errorf("--run %d: task %q has %d runs (1 is the oldest)", n, id, len(runs))
			}
			selected = []int{n - 1}
		case !all:
			fmt.Fprintf(stderr, "briskctl: task %q has more runs than one listing holds; showing the latest (%s, %s); --all-runs shows every run, --run N the Nth\n", id, runs[len(runs)-1].Run, where(runs[len(runs)-1]))
		case len(runs) > 1:
			fmt.Fprintf(stderr, "briskctl: task %q has %d runs; showing the latest (run %d); --run N shows another, --all-runs all:\n", id, len(runs), len(runs))
			for i, r := range runs {
				fmt.Fprintf(stderr, "  run %d  %s  %s\n", i+1, r.Run, where(r))
			}
		}
		if listErr != nil {
			fmt.Fprintf(stderr, "briskctl: only runs in this node's spool are listed: %v\n", listErr)
		}
		for _, i := range selected {
			if c.Bool("all-runs") {
				fmt.Fprintf(stderr, "==> run %d of %d: %s (%s) <==\n", i+1, len(runs), runs[i].Run, where(runs[i]))
			}
			p := &printer{stdout: c.App.Writer, stderr: stderr, only: stream, timestamps: c.Bool("timestamps")}
			if err := showRun(ctx, c, shipper, runs[i], p); err != nil {
				return err
			}
		}
		return nil
	},
}

// parseAround reads --around: a time (RFC 3339) or a duration ago.
func parseAround(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--around %q: want a time (2026-12-07T10:00:00Z) or a duration ago (20m)", v)
}

// fromFlagOrConfig is flag's value when given, else the config's key.
func fromFlagOrConfig(c *cli.Context, flag, key, configured string) setting {
	if c.IsSet(flag) {
		return setting{value: c.String(flag), name: "--" + flag}
	}
	return setting{value: configured, name: key}
}

// logsThroughServer is briskctl logs --server: the same output, read
// through a brisk-logd's node log API.
func logsThroughServer(ctx context.Context, c *cli.Context, cfg config.Config, server setting, ns, id string, stream spool.Stream, stderr io.Writer) error {
	for _, f := range []string{"all-runs", "metadata"} {
		if c.Bool(f) {
			return fmt.Errorf("--%s: not over %s %q yet: run briskctl on the node, or give --server \"\" where the store can be read", f, server.name, server.value)
		}
	}
	s, err := newLogServer(server,
		fromFlagOrConfig(c, "token-file", "briskctl.token_file", cfg.Briskctl.TokenFile),
		fromFlagOrConfig(c, "ca-file", "briskctl.ca_file", cfg.Briskctl.CAFile), stderr)
	if err != nil {
		return err
	}
	rq := remoteQuery{follow: c.Bool("follow"), stream: stream}
	if c.IsSet("run") {
		if rq.run = c.Int("run"); rq.run < 1 {
			return fmt.Errorf("--run %d: 1 is the oldest run", rq.run)
		}
	}
	p := &printer{stdout: c.App.Writer, stderr: stderr, only: stream, timestamps: c.Bool("timestamps")}
	return s.printLogs(ctx, ns, id, rq, p, stderr)
}

func where(r ship.Run) string {
	if r.Dir != "" {
		return "in this node's spool"
	}
	if r.Batch != nil {
		return "stored in batch " + r.Key
	}
	return "stored"
}

// showRun prints one run: from the spool while it is there, from the store
// once it was shipped (also when shipping ends it while we follow, or
// before the follow could open it).
func showRun(ctx context.Context, c *cli.Context, shipper *ship.Shipper, r ship.Run, p *printer) error {
	var offset int64 // bytes of the stored object already printed from the spool
	if r.Dir != "" && !c.Bool("metadata") {
		if !c.Bool("follow") {
			f, err := os.Open(spool.LogPath(r.Dir))
			if err == nil {
				defer f.Close()
				return spool.Decode(f, p.print)
			}
		} else {
			res, err := spool.FollowLog(ctx, r.Dir, 0, p.printLine)
			if err != nil || res.End == spool.Finished {
				return err
			}
			// Shipped while we followed, or before: the spool passed on
			// a prefix of the stored object, and the rest is in the
			// store from there on.
			offset = res.Offset
		}
	}
	if r.Batch != nil && r.Batch.Rebuilt {
		fmt.Fprintf(p.stderr, "briskctl: run %s: the trailer of batch %s is corrupt (its CRC-32C does not match): the run was found by its gzip member's header, and its exit code and figures are unknown\n", r.Run, r.Key)
	}
	body, meta, err := shipper.ReadRun(ctx, r)
	if errors.Is(err, store.ErrNotFound) && r.Dir != "" {
		return fmt.Errorf("run %s is still in this node's spool (%s), not yet stored: %w", r.Run, r.Dir, err)
	}
	if err != nil {
		return fmt.Errorf("read %s from %s: %w", r.Key, shipper.Store(), err)
	}
	if c.Bool("metadata") {
		keys := make([]string, 0, len(meta))
		for k := range meta {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := metaValue(meta[k])
			fmt.Fprintf(c.App.Writer, "%s: %s%s\n", k, v, readable(k, v))
		}
		return nil
	}
	if offset > int64(len(body)) {
		return fmt.Errorf("%s in %s holds %d bytes, fewer than the %d read from the spool entry %s", r.Key, shipper.Store(), len(body), offset, r.Dir)
	}
	return spool.Decode(bytes.NewReader(body[offset:]), p.print)
}

// printer writes records back as the task wrote them: stdout to stdout,
// stderr to stderr, optionally with each line's time.
type printer struct {
	stdout, stderr io.Writer
	only           spool.Stream
	timestamps     bool
	midLine        map[spool.Stream]bool
}

// printLine prints a raw CRI record (spool.FollowLog's), and nothing for
// the nil that says the follower caught up.
func (p *printer) printLine(line []byte) error {
	if line == nil {
		return nil
	}
	r, err := spool.ParseRecord(line[:len(line)-1])
	if err != nil {
		return err
	}
	return p.print(r)
}

func (p *printer) print(r spool.Record) error {
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

// metaValue is a metadata value as the task's client set it (the shipper
// RFC 2047-encodes values that are not plain ASCII), on one line: a value
// holding a control character or invalid UTF-8 (a newline in a pod UID
// annotation) is printed Go-quoted, so that each key stays on its line.
func metaValue(stored string) string {
	v := ship.DecodeMetaValue(stored)
	if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return strconv.Quote(v)
	}
	return v
}
