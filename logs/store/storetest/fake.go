// Package storetest is an S3 endpoint in memory, for unit tests of what
// talks to S3. End-to-end tests use MinIO.
package storetest

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/store"
)

// Fake is an S3 endpoint in memory for one bucket "b", path style: objects
// with their metadata and ETag, ListObjectsV2 in pages of PageSize keys
// with opaque continuation tokens and start-after (as S3 does, whatever
// MaxKeys asks beyond it), PutObject with If-None-Match and If-Match, the
// multipart calls, GetObject with Range, and DeleteObject.
type Fake struct {
	t        testing.TB
	srv      *httptest.Server
	PageSize int
	// Slow, if set, is how long each 256 KiB of a request body takes to
	// arrive: a slow link, per connection.
	Slow time.Duration
	// GetHeaders are added to every GetObject answer.
	GetHeaders map[string]string
	// IgnoreConditions makes PutObject ignore If-None-Match and If-Match,
	// as a store without conditional writes does.
	IgnoreConditions bool
	// RejectConditions answers a PutObject with If-None-Match or If-Match
	// 501 NotImplemented, as stores that do not know them do.
	RejectConditions bool
	// Conflicts is how many of the next conditional PUTs are answered
	// 409 ConditionalRequestConflict, as S3 does when another
	// conditional write to the key is in flight.
	Conflicts atomic.Int32
	// Down, while set, answers every request 503.
	Down atomic.Bool

	mu    sync.Mutex
	objs  map[string]Object
	parts map[string][]byte // uploadID/part -> body

	Requests, Lists atomic.Int32
}

// Object is a stored object.
type Object struct {
	Body []byte
	Meta map[string]string
	ETag string
}

// New starts a fake, and sets the environment so that the SDK finds
// credentials for it and looks nowhere else.
func New(t testing.TB) *Fake {
	f := &Fake{t: t, PageSize: 1000, objs: map[string]Object{}, parts: map[string][]byte{}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	return f
}

// Config is logs.s3 pointing at the fake.
func (f *Fake) Config() config.S3 {
	c := config.DefaultLogs().S3
	c.Bucket, c.Endpoint, c.PathStyle, c.Region = "b", f.srv.URL, true, "us-east-1"
	return c
}

// Put stores an object directly, as another node would have.
func (f *Fake) Put(key string, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objs[key] = Object{Body: body, ETag: etagOf(body)}
}

// Delete removes an object directly.
func (f *Fake) Delete(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.objs, key)
}

// Keys are the stored keys, sorted.
func (f *Fake) Keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []string
	for k := range f.objs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func etagOf(b []byte) string { return fmt.Sprintf(`"%x"`, md5.Sum(b)) }

// Object is the object stored under key.
func (f *Fake) Object(key string) (Object, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objs[key]
	return o, ok
}

func (f *Fake) readBody(r *http.Request) []byte {
	var b strings.Builder
	buf := make([]byte, 256<<10)
	for {
		n, err := io.ReadFull(r.Body, buf)
		b.Write(buf[:n])
		if n > 0 && f.Slow > 0 {
			select {
			case <-time.After(f.Slow):
			case <-r.Context().Done():
				return nil
			}
		}
		if err != nil {
			return []byte(b.String())
		}
	}
}

func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.Requests.Add(1)
	if f.Down.Load() {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>down</Message></Error>`)
		return
	}
	q := r.URL.Query()
	key := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/b"), "/")
	switch {
	case r.Method == http.MethodGet && key == "" && q.Get("list-type") == "2":
		f.Lists.Add(1)
		f.list(w, q.Get("prefix"), q.Get("start-after"), q.Get("continuation-token"))
	case r.Method == http.MethodGet:
		o, ok := f.Object(key)
		if !ok {
			noSuchKey(w)
			return
		}
		for k, v := range o.Meta {
			w.Header().Set("X-Amz-Meta-"+k, v)
		}
		for k, v := range f.GetHeaders {
			w.Header().Set(k, v)
		}
		w.Header().Set("ETag", o.ETag)
		body := o.Body
		if rng := r.Header.Get("Range"); rng != "" {
			first, last, ok := parseRange(rng, int64(len(body)))
			if !ok {
				w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
				return
			}
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(body)))
			body = body[first : last+1]
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(body)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	case r.Method == http.MethodPost && q.Has("uploads"):
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>`)
	case r.Method == http.MethodPut && q.Has("uploadId"):
		body := f.readBody(r)
		n, _ := strconv.Atoi(q.Get("partNumber"))
		f.mu.Lock()
		f.parts[fmt.Sprintf("%s/%06d", q.Get("uploadId"), n)] = body
		f.mu.Unlock()
		w.Header().Set("ETag", `"e`+q.Get("partNumber")+`"`)
	case r.Method == http.MethodPost && q.Has("uploadId"):
		_, _ = io.Copy(io.Discard, r.Body)
		f.mu.Lock()
		var names []string
		for n := range f.parts {
			names = append(names, n)
		}
		sort.Strings(names)
		var body []byte
		for _, n := range names {
			body = append(body, f.parts[n]...)
		}
		f.parts = map[string][]byte{}
		f.objs[key] = Object{Body: body, Meta: metaOf(r), ETag: etagOf(body)}
		f.mu.Unlock()
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>"e"</ETag></CompleteMultipartUploadResult>`)
	case r.Method == http.MethodPut:
		body := f.readBody(r)
		conditional := r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Match") != ""
		if conditional && f.RejectConditions {
			w.WriteHeader(http.StatusNotImplemented)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>A header you provided implies functionality that is not implemented</Message></Error>`)
			return
		}
		if conditional && f.Conflicts.Add(-1) >= 0 {
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ConditionalRequestConflict</Code><Message>A conflicting conditional operation is currently in progress against this resource.</Message></Error>`)
			return
		}
		f.mu.Lock()
		old, exists := f.objs[key]
		if !f.IgnoreConditions {
			if im := r.Header.Get("If-Match"); im != "" && !exists {
				f.mu.Unlock()
				noSuchKey(w)
				return
			}
			if (r.Header.Get("If-None-Match") == "*" && exists) || (r.Header.Get("If-Match") != "" && r.Header.Get("If-Match") != old.ETag) {
				f.mu.Unlock()
				w.WriteHeader(http.StatusPreconditionFailed)
				fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>`)
				return
			}
		}
		o := Object{Body: body, Meta: metaOf(r), ETag: etagOf(body)}
		f.objs[key] = o
		f.mu.Unlock()
		w.Header().Set("ETag", o.ETag)
	case r.Method == http.MethodDelete:
		f.Delete(key)
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

// metaOf is the user metadata of a request. A multipart upload carries it
// on CreateMultipartUpload, which this fake does not keep: tests of
// metadata use single PUTs.
func metaOf(r *http.Request) map[string]string {
	m := map[string]string{}
	for k, v := range r.Header {
		if name, ok := strings.CutPrefix(strings.ToLower(k), "x-amz-meta-"); ok {
			m[name] = v[0]
		}
	}
	return m
}

func (f *Fake) list(w http.ResponseWriter, prefix, startAfter, token string) {
	after := startAfter
	if token != "" {
		b, err := base64.URLEncoding.DecodeString(token)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		after = string(b)
	}
	f.mu.Lock()
	var keys []string
	for k := range f.objs {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	f.mu.Unlock()
	sort.Strings(keys)
	truncated := len(keys) > f.PageSize
	if truncated {
		keys = keys[:f.PageSize]
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><KeyCount>%d</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>%t</IsTruncated>`, len(keys), truncated)
	if truncated {
		fmt.Fprintf(&b, `<NextContinuationToken>%s</NextContinuationToken>`, base64.URLEncoding.EncodeToString([]byte(keys[len(keys)-1])))
	}
	for _, k := range keys {
		b.WriteString("<Contents><Key>")
		_ = xml.EscapeText(&b, []byte(k))
		b.WriteString("</Key><Size>1</Size></Contents>")
	}
	b.WriteString("</ListBucketResult>")
	_, _ = io.WriteString(w, b.String())
}

// Store is an S3 store on the fake with a client built, so that the SDK's
// setup is not counted in what a test measures.
func (f *Fake) Store(c config.S3, opts ...store.S3Opt) *store.S3 {
	st, err := store.ConnectS3(context.Background(), c, opts...)
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

func noSuchKey(w http.ResponseWriter) {
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>none</Message></Error>`)
}

// parseRange reads "bytes=A-B", "bytes=A-" and "bytes=-N" of an object of
// size n.
func parseRange(h string, n int64) (first, last int64, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	a, b, dash := strings.Cut(spec, "-")
	if !found || !dash {
		return 0, 0, false
	}
	if a == "" {
		k, err := strconv.ParseInt(b, 10, 64)
		if err != nil || k <= 0 {
			return 0, 0, false
		}
		return max(0, n-k), n - 1, n > 0
	}
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil || first >= n {
		return 0, 0, false
	}
	last = n - 1
	if b != "" {
		if last, err = strconv.ParseInt(b, 10, 64); err != nil || last < first {
			return 0, 0, false
		}
		last = min(last, n-1)
	}
	return first, last, true
}
