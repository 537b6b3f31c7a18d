package main

import (
	"errors"
	"fmt"

	"github.com/brisk-containers/brisk/logs/store"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/urfave/cli/v2"
)

// retentionDays is Brisk's log retention: 24 h.
const retentionDays = 1

var bucketCommand = &cli.Command{
	Name:  "bucket",
	Usage: "manage the log bucket",
	Subcommands: []*cli.Command{{
		Name:  "init",
		Usage: "create logs.s3.bucket if missing and expire logs.s3.prefix after 1 day",
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			if cfg.Logs.S3.Bucket == "" {
				return fmt.Errorf("logs.s3.bucket is empty: logs go to local_dir %s (use briskctl gc there)", cfg.Logs.LocalDir)
			}
			st, err := store.ConnectS3(c.Context, cfg.Logs.S3)
			if err != nil {
				return err
			}
			client, bucket := st.Client(), st.Bucket()
			_, err = client.CreateBucket(c.Context, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
			var owned *types.BucketAlreadyOwnedByYou
			var exists *types.BucketAlreadyExists
			switch {
			case err == nil:
				fmt.Fprintf(c.App.Writer, "created bucket %s\n", bucket)
			case errors.As(err, &owned), errors.As(err, &exists):
				fmt.Fprintf(c.App.Writer, "bucket %s exists\n", bucket)
			default:
				return fmt.Errorf("create bucket %s: %w", bucket, err)
			}
			_, err = client.PutBucketLifecycleConfiguration(c.Context, &s3.PutBucketLifecycleConfigurationInput{
				Bucket: aws.String(bucket),
				LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{{
					ID:         aws.String("brisk-log-retention"),
					Status:     types.ExpirationStatusEnabled,
					Filter:     &types.LifecycleRuleFilter{Prefix: aws.String(cfg.Logs.S3.Prefix)},
					Expiration: &types.LifecycleExpiration{Days: aws.Int32(retentionDays)},
				}}},
			})
			if err != nil {
				return fmt.Errorf("set lifecycle rule on %s: %w", bucket, err)
			}
			fmt.Fprintf(c.App.Writer, "objects under %q in %s expire after %d day\n", cfg.Logs.S3.Prefix, bucket, retentionDays)
			return nil
		},
	}},
}
