package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads the Prometheus text exposition at url.
func scrape(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s: %s: %s", url, resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return mfs, nil
}

// byLabels sums the samples of family name by the values of labels,
// joined with a space ("PutObject batch"); samples whose labels pass keep
// (nil: all) only.
func byLabels(mfs map[string]*dto.MetricFamily, name string, keep func(map[string]string) bool, labels ...string) map[string]float64 {
	out := map[string]float64{}
	mf := mfs[name]
	if mf == nil {
		return out
	}
	for _, m := range mf.GetMetric() {
		ls := map[string]string{}
		for _, lp := range m.GetLabel() {
			ls[lp.GetName()] = lp.GetValue()
		}
		if keep != nil && !keep(ls) {
			continue
		}
		var v float64
		switch {
		case m.GetCounter() != nil:
			v = m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			v = m.GetGauge().GetValue()
		case m.GetUntyped() != nil:
			v = m.GetUntyped().GetValue()
		default:
			continue
		}
		key := make([]string, len(labels))
		for i, l := range labels {
			key[i] = ls[l]
		}
		out[strings.Join(key, " ")] += v
	}
	return out
}

// minioRequests are MinIO's own counts of the S3 requests on bucket, by
// API (PutObject, GetObject, ListObjectsV2, ...). Metrics v3's per-bucket
// counter: this MinIO's v2 cluster metrics have no per-API request
// counter, and v2's node and bucket ones (minio_s3_requests_total,
// minio_bucket_requests_total) are refreshed every ten seconds or so,
// which would shift a window's edges; v3's are read live.
func minioRequests(ctx context.Context, endpoint, bucket string) (map[string]float64, error) {
	mfs, err := scrape(ctx, strings.TrimSuffix(endpoint, "/")+"/minio/metrics/v3/bucket/api/"+bucket)
	if err != nil {
		return nil, err
	}
	if mfs["minio_bucket_api_total"] == nil {
		return map[string]float64{}, nil // no request on the bucket yet
	}
	return byLabels(mfs, "minio_bucket_api_total", func(l map[string]string) bool { return l["bucket"] == bucket }, "name"), nil
}
