package index

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// object is one index object: which batches hold which ID hashes. It is
// stored gzip-compressed, as lines of text (docs/batch-format.md):
//
//	brisk-index 1 epoch=EPOCH
//	b KEY          one per batch, numbered from 0, KEY under the prefix
//	h HASH N       one per ID hash and batch
type object struct {
	epoch   int64
	batches []string
	byKey   map[string]int
	hashes  map[string][]int // hash -> batch numbers
}

func newObject(epoch int64) *object {
	return &object{epoch: epoch, byKey: map[string]int{}, hashes: map[string][]int{}}
}

// add records that the batch under key holds hash; false if it was known.
func (o *object) add(hash, key string) bool {
	n, ok := o.byKey[key]
	if !ok {
		n = len(o.batches)
		o.batches = append(o.batches, key)
		o.byKey[key] = n
	}
	for _, m := range o.hashes[hash] {
		if m == n {
			return false
		}
	}
	o.hashes[hash] = append(o.hashes[hash], n)
	return true
}

// merge adds every entry of other.
func (o *object) merge(other *object) {
	for h, ns := range other.hashes {
		for _, n := range ns {
			o.add(h, other.batches[n])
		}
	}
}

// lookup is the keys of the batches that hold hash.
func (o *object) lookup(hash string) []string {
	var keys []string
	for _, n := range o.hashes[hash] {
		keys = append(keys, o.batches[n])
	}
	return keys
}

func (o *object) size() int {
	n := 0
	for _, ns := range o.hashes {
		n += len(ns)
	}
	return n
}

// each calls fn for every (hash, batch key).
func (o *object) each(fn func(hash, key string)) {
	for h, ns := range o.hashes {
		for _, n := range ns {
			fn(h, o.batches[n])
		}
	}
}

func (o *object) encode(prefix string) []byte {
	var raw bytes.Buffer
	fmt.Fprintf(&raw, "brisk-index 1 epoch=%d\n", o.epoch)
	for _, k := range o.batches {
		fmt.Fprintf(&raw, "b %s\n", strings.TrimPrefix(k, prefix))
	}
	hs := make([]string, 0, len(o.hashes))
	for h := range o.hashes {
		hs = append(hs, h)
	}
	sort.Strings(hs)
	for _, h := range hs {
		for _, n := range o.hashes[h] {
			fmt.Fprintf(&raw, "h %s %d\n", h, n)
		}
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	_, _ = zw.Write(raw.Bytes())
	_ = zw.Close()
	return out.Bytes()
}

func decodeObject(prefix string, data []byte) (*object, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("index object: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("index object: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<10)
	if !sc.Scan() {
		return nil, fmt.Errorf("index object: empty")
	}
	var epoch int64
	if _, err := fmt.Sscanf(sc.Text(), "brisk-index 1 epoch=%d", &epoch); err != nil {
		return nil, fmt.Errorf("index object header %q: %v", sc.Text(), err)
	}
	o := newObject(epoch)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "b "):
			k := prefix + line[2:]
			o.byKey[k] = len(o.batches)
			o.batches = append(o.batches, k)
		case strings.HasPrefix(line, "h "):
			f := strings.Fields(line)
			if len(f) != 3 {
				return nil, fmt.Errorf("index object line %q", line)
			}
			n, err := strconv.Atoi(f[2])
			if err != nil || n < 0 || n >= len(o.batches) {
				return nil, fmt.Errorf("index object line %q: no batch %s", line, f[2])
			}
			o.hashes[f[1]] = append(o.hashes[f[1]], n)
		}
	}
	return o, sc.Err()
}
