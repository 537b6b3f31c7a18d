package doctor

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// costCheck names the finding of what brisk-logd's S3 requests cost, read
// with logd/running's status.
const costCheck = "logd/cost"

// logdRequests is GET /v1/status's "requests" (logd.RequestWindow): the
// S3 requests brisk-logd sent over the last hour, or since it started,
// and the logs it shipped then.
type logdRequests struct {
	From     time.Time        `json:"from"`
	To       time.Time        `json:"to"`
	Tasks    uint64           `json:"tasks"`
	Requests uint64           `json:"requests"`
	ByOp     []logdOpRequests `json:"by_op"`
}

// logdOpRequests is the requests of one operation and purpose.
type logdOpRequests struct {
	Op       string `json:"op"`
	Purpose  string `json:"purpose"`
	Requests uint64 `json:"requests"`
}

// List prices of S3 Standard requests, in dollars per request: PUT, COPY,
// POST and LIST $0.005 per 1,000; GET and every other $0.0004 per 1,000;
// DELETE and CANCEL (aborting a multipart upload) free.
const (
	priceWrite = 0.005 / 1000
	priceRead  = 0.0004 / 1000
)

// requestPrice is the list price of one request of S3 operation op (as
// the SDK names it: PutObject, ListObjectsV2, ...).
func requestPrice(op string) float64 {
	for _, p := range []string{"Delete", "Abort"} {
		if strings.HasPrefix(op, p) {
			return 0
		}
	}
	// Writes and listings: PutObject, CopyObject, UploadPart(Copy),
	// CreateMultipartUpload and CompleteMultipartUpload (POSTs),
	// ListObjectsV2, PutBucketLifecycleConfiguration, CreateBucket.
	for _, p := range []string{"Put", "Copy", "Post", "List", "Create", "Complete", "UploadPart", "Restore"} {
		if strings.HasPrefix(op, p) {
			return priceWrite
		}
	}
	return priceRead // GetObject, HeadObject, HeadBucket, GetBucket...
}

// costResult is the cost line: requests per task over the window, and
// what a day at that rate costs at list prices.
func costResult(r logdRequests) Result {
	window := r.To.Sub(r.From)
	dollars := 0.0
	for _, o := range r.ByOp {
		dollars += float64(o.Requests) * requestPrice(o.Op)
	}
	perDay := 0.0
	if window > 0 {
		perDay = dollars * float64(24*time.Hour) / float64(window)
	}
	over := "over the last hour"
	if window < time.Hour-time.Minute {
		over = "since brisk-logd started " + ago(window)
	}
	var found string
	switch {
	case r.Tasks == 0 && r.Requests == 0:
		found = fmt.Sprintf("no S3 request and no task shipped %s", over)
	case r.Tasks == 0:
		found = fmt.Sprintf("no task shipped %s, and %s; about %s/day at this rate (list prices)", over, count(r.Requests, "S3 request"), money(perDay))
	default:
		found = fmt.Sprintf("%s S3 requests per task %s (%s, %s); about %s/day at this rate (list prices)",
			perTask(float64(r.Requests)/float64(r.Tasks)), over, count(r.Requests, "request"), count(r.Tasks, "task"), money(perDay))
	}
	return Result{Check: costCheck, Status: Info, Found: found}
}

// ago says how long ago a window shorter than an hour started: "12
// minutes ago".
func ago(d time.Duration) string {
	switch m, sec := int(d/time.Minute), int(d/time.Second); {
	case m > 1:
		return fmt.Sprintf("%d minutes ago", m)
	case m == 1:
		return "a minute ago"
	case sec > 1:
		return fmt.Sprintf("%d seconds ago", sec)
	case sec == 1:
		return "a second ago"
	}
	return "just now"
}

// perTask shows requests per task: three decimals (0.031, 1.004), or two
// significant digits below 0.01.
func perTask(v float64) string {
	if v != 0 && v < 0.01 {
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// money shows dollars: cents from a dollar up, two significant digits
// below.
func money(v float64) string {
	if v == 0 || v >= 0.995 {
		return "$" + thousandsFloat(v)
	}
	return "$" + strconv.FormatFloat(v, 'g', 2, 64)
}

// count is n things: "1 task", "58,400 tasks".
func count(n uint64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return thousands(n) + " " + thing + "s"
}

// thousands writes n with commas between thousands: 58,400.
func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// thousandsFloat writes v with cents and commas: 1,234.50.
func thousandsFloat(v float64) string {
	cents := uint64(v*100 + 0.5)
	return fmt.Sprintf("%s.%02d", thousands(cents/100), cents%100)
}
