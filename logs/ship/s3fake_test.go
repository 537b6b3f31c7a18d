package ship

import (
	"context"
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
)

// s3Fake is an S3 endpoint in memory for one bucket, path style: objects
// with their metadata, ListObjectsV2 in pages of pageSize keys with opaque
// continuation tokens and start-after (as S3 does, whatever MaxKeys asks
// beyond it), PutObject, the multipart calls, and GetObject.
type s3Fake struct {
	t        *testing.T
	srv      *httptest.Server
	pageSize int
	// slow, if set, is how long each 256 KiB of a request body takes to
	// arrive: a slow link, per connection.
	slow time.Duration
	// getHeaders are added to every GetObject answer.
	getHeaders map[string]string

	mu    sync.Mutex
	objs  map[string]fakeObject
	parts map[string][]byte // uploadID/part -> body

	requests, lists atomic.Int32
}

type fakeObject struct {
	body []byte
	meta map[string]string
}

func newS3Fake(t *testing.T) *s3Fake {
	f := &s3Fake{t: t, pageSize: 1000, objs: map[string]fakeObject{}, parts: map[string][]byte{}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	return f
}

// config is logs.s3 pointing at the fake.
func (f *s3Fake) config() config.S3 {
	c := config.DefaultLogs().S3
	c.Bucket, c.Endpoint, c.PathStyle, c.Region = "b", f.srv.URL, true, "us-east-1"
	return c
}

// put stores an object directly, as another node's shim would have.
func (f *s3Fake) put(key string, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objs[key] = fakeObject{body: body}
}

func (f *s3Fake) object(key string) (fakeObject, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objs[key]
	return o, ok
}

func (f *s3Fake) readBody(r *http.Request) []byte {
	var b strings.Builder
	buf := make([]byte, 256<<10)
	for {
		n, err := io.ReadFull(r.Body, buf)
		b.Write(buf[:n])
		if n > 0 && f.slow > 0 {
			select {
			case <-time.After(f.slow):
			case <-r.Context().Done():
				return nil
			}
		}
		if err != nil {
			return []byte(b.String())
		}
	}
}

func (f *s3Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	q := r.URL.Query()
	key := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/b"), "/")
	switch {
	case r.Method == http.MethodGet && key == "" && q.Get("list-type") == "2":
		f.lists.Add(1)
		f.list(w, q.Get("prefix"), q.Get("start-after"), q.Get("continuation-token"))
	case r.Method == http.MethodGet:
		o, ok := f.object(key)
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>none</Message></Error>`)
			return
		}
		for k, v := range o.meta {
			w.Header().Set("X-Amz-Meta-"+k, v)
		}
		for k, v := range f.getHeaders {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(o.body)))
		_, _ = w.Write(o.body)
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
		f.objs[key] = fakeObject{body: body, meta: metaOf(r)}
		f.mu.Unlock()
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>"e"</ETag></CompleteMultipartUploadResult>`)
	case r.Method == http.MethodPut:
		body := f.readBody(r)
		f.mu.Lock()
		f.objs[key] = fakeObject{body: body, meta: metaOf(r)}
		f.mu.Unlock()
		w.Header().Set("ETag", `"e"`)
	case r.Method == http.MethodDelete:
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

func (f *s3Fake) list(w http.ResponseWriter, prefix, startAfter, token string) {
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
	truncated := len(keys) > f.pageSize
	if truncated {
		keys = keys[:f.pageSize]
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

// store is an S3Store on the fake with a client built, so that the SDK's
// setup is not counted in what a test measures.
func (f *s3Fake) store(c config.S3) *S3Store {
	st := &S3Store{cfg: c}
	if _, err := st.connect(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	return st
}
