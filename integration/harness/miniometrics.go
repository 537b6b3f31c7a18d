package harness

import (
	"bufio"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// s3RequestsLine is one series of MinIO's count of requests by API, in
// its metrics v3: minio_api_requests_total{name="PutObject",...,type="s3"} N.
var (
	s3RequestsLine = regexp.MustCompile(`^minio_api_requests_total\{([^}]*)\} (\S+)$`)
	apiName        = regexp.MustCompile(`(?:^|,)name="([^"]+)"`)
)

// S3Requests is how many S3 requests MinIO has answered since it started,
// by API (PutObject, GetObject, ListObjectsV2, ...), failed ones included:
// what a bill counts. It reads MinIO's metrics v3, which are current at
// each scrape; the v2 endpoint (/minio/v2/metrics/cluster) serves a copy
// up to 10 s old, too old to tell one phase of a test from the next.
func (m *MinIO) S3Requests() (map[string]float64, error) {
	resp, err := http.Get(m.Endpoint + "/minio/metrics/v3/api/requests")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("MinIO metrics at %s: %s (is MINIO_PROMETHEUS_AUTH_TYPE public?)", m.Endpoint, resp.Status)
	}
	counts := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		mm := s3RequestsLine.FindStringSubmatch(sc.Text())
		if mm == nil || !strings.Contains(mm[1], `type="s3"`) {
			continue
		}
		name := apiName.FindStringSubmatch(mm[1])
		v, err := strconv.ParseFloat(mm[2], 64)
		if name == nil || err != nil {
			return nil, fmt.Errorf("MinIO metrics line %q: not a count of S3 requests by API", sc.Text())
		}
		counts[name[1]] += v
	}
	return counts, sc.Err()
}
