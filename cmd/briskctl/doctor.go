package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/doctor"
)

// containerdAddressFlag is taken as ctr takes it.
func containerdAddressFlag() cli.Flag {
	return &cli.StringFlag{Name: "address", Aliases: []string{"a"}, Value: "/run/containerd/containerd.sock", EnvVars: []string{"CONTAINERD_ADDRESS"}, Usage: "containerd's socket"}
}

var doctorCommand = &cli.Command{
	Name:  "doctor",
	Usage: "check this node against Brisk's needs and the write-path playbook; exit 1 on any FAIL",
	Description: `Each line is PASS, INFO, WARN, FAIL or SKIP (the check could not run, and
   says why), what was found, and for anything to fix the one-line fix.
   docs/playbook.md explains every finding.`,
	Flags: []cli.Flag{
		containerdAddressFlag(),
		&cli.StringFlag{Name: "snapshotter", Value: "brisk", Usage: "the [proxy_plugins] name Brisk is registered as in containerd"},
		&cli.BoolFlag{Name: "json", Usage: "print the findings as JSON"},
		&cli.BoolFlag{Name: "no-write", Usage: "do not write and delete a test object in the bucket"},
		&cli.DurationFlag{Name: "timeout", Value: doctorTimeout, Usage: "give up on a check after this long"},
		&cli.DurationFlag{Name: "sample", Value: doctorSample, Usage: "how long to sample the devices' counters"},
		&cli.StringFlag{Name: "kubelet-config", Value: doctor.DefaultKubeletConfig, Usage: "kubelet configuration, for the memory reserved from pods"},
	},
	Action: func(c *cli.Context) error {
		path := c.String("config")
		// Not loadConfig: a bad config is a finding here, not the end.
		cfg, cfgErr := config.Load(path, !c.IsSet("config"))
		opts := []doctor.Opt{
			doctor.WithContainerdAddress(c.String("address")),
			doctor.WithSnapshotterName(c.String("snapshotter")),
			doctor.WithSampleWindow(c.Duration("sample")),
			doctor.WithKubeletConfig(c.String("kubelet-config")),
		}
		if c.Bool("no-write") {
			opts = append(opts, doctor.WithoutWrites())
		}
		if c.Duration("timeout") <= c.Duration("sample") {
			return fmt.Errorf("--timeout %v must be longer than --sample %v", c.Duration("timeout"), c.Duration("sample"))
		}
		node := doctor.NewNode(path, cfg, cfgErr, opts...)
		defer node.Close()
		report := doctor.Run(c.Context, node, doctor.Checks(), c.Duration("timeout"))
		if c.Bool("json") {
			enc := json.NewEncoder(c.App.Writer)
			enc.SetIndent("", "  ")
			if err := enc.Encode(report); err != nil {
				return err
			}
		} else {
			printDoctor(c.App.Writer, report)
		}
		if report.Failed() {
			return fmt.Errorf("%d checks FAILED", report.Count(doctor.Fail))
		}
		return nil
	},
}

const (
	doctorTimeout = 10 * time.Second
	doctorSample  = 2 * time.Second
)

func printDoctor(w io.Writer, r doctor.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, x := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", x.Status, x.Check, x.Found)
		if x.Fix != "" && x.Status != doctor.Pass && x.Status != doctor.Skip {
			fmt.Fprintf(tw, "\t\t  fix: %s\n", x.Fix)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "%d pass, %d info, %d warn, %d fail, %d skipped\n", r.Count(doctor.Pass), r.Count(doctor.Info), r.Count(doctor.Warn), r.Count(doctor.Fail), r.Count(doctor.Skip))
}
