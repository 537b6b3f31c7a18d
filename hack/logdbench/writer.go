package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/brisk-containers/brisk/logs/spool"
)

// stampPrefix starts a stamped line: "stamp SEQ WRITTEN_UNIX_NANO ...".
const stampPrefix = "stamp "

// runWriter writes one task's spool entry as the shim does (spool.Open,
// Write per chunk of output, Finish with the exit code): a preload of
// build-log lines in 32 KiB writes, then one stamped line per -every,
// -lines of them (0: until SIGTERM). It prints "ready" once the preload is
// in the spool.
func runWriter(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("writer", flag.ExitOnError)
	var (
		spoolDir = fs.String("spool", "", "spool_dir")
		id       = fs.String("id", "", "task ID")
		node     = fs.String("node", "", "node name in the entry")
		preload  = fs.Int("preload", 0, "bytes of log lines written at once first")
		every    = fs.Duration("every", 100*time.Millisecond, "one stamped line per this long")
		lines    = fs.Int("lines", 0, "stamped lines, then exit; 0: until SIGTERM")
		code     = fs.Int("exit", 0, "exit code recorded at the end")
	)
	fs.Parse(args)
	if *spoolDir == "" || *id == "" {
		return fmt.Errorf("writer: -spool and -id are required")
	}
	e, err := spool.Open(*spoolDir, spool.Meta{Namespace: namespace, ID: *id, Node: *node, Started: time.Now()})
	if err != nil {
		return err
	}
	defer e.Release()
	line := "[worker-3] cc -O2 -Wall -c src/pkg7/file123.c -o build/pkg7/file123.o (42 ms)\n"
	chunk := []byte(strings.Repeat(line, (32<<10)/len(line)))
	for n := 0; n < *preload; n += len(chunk) {
		if err := e.Write(spool.Stdout, chunk[:min(len(chunk), *preload-n)]); err != nil {
			return err
		}
	}
	fmt.Println("ready")
	tick := time.NewTicker(*every)
	defer tick.Stop()
loop:
	for seq := 0; *lines == 0 || seq < *lines; seq++ {
		select {
		case <-ctx.Done(): // SIGTERM: the task exits
			break loop
		case <-tick.C:
		}
		// The stamp is taken right before the write, as a task printing
		// its own time would.
		if err := e.Write(spool.Stdout, fmt.Appendf(nil, "%s%d %d a line the task printed\n", stampPrefix, seq, time.Now().UnixNano())); err != nil {
			return err
		}
	}
	_, err = e.Finish(spool.ExitInfo{Code: *code, Exited: time.Now()})
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "writer: finished", e.Dir())
	return nil
}
