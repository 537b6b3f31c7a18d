package usage

import (
	"encoding/json"
	"testing"
)

// TestFieldsAreTheJSONNames: the names the metadata and the event derive
// from Fields are the ones the spool stores, so there is one spelling.
func TestFieldsAreTheJSONNames(t *testing.T) {
	u := Usage{Upperdir: "/u", InodesUsed: 1, InodesLimit: 2, BytesUsed: 3, BytesLimit: 4}
	data, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	var stored map[string]any
	if err := json.Unmarshal(data, &stored); err != nil {
		t.Fatal(err)
	}
	fields := u.Fields()
	if len(fields) != 4 {
		t.Fatalf("%d fields, want the 4 figures", len(fields))
	}
	for _, f := range fields {
		if v, ok := stored[f.Name].(float64); !ok || int64(v) != f.Value {
			t.Errorf("field %s = %d, stored as %v", f.Name, f.Value, stored[f.Name])
		}
	}
}
