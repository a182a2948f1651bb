package kvmhost

import (
	"encoding/json"
	"os"
	"os/exec"
	"reflect"
	"testing"
)

type cLayout struct {
	Size   uintptr            `json:"size"`
	Fields map[string]uintptr `json:"fields"`
}

// goFieldName is the name cgo gives a C field (a Go keyword gets an underscore).
func cFieldName(goName string) string {
	if goName == "_type" {
		return "type"
	}
	return goName
}

// Every C struct whose cgo view the binding uses has, on the Go side, the size and the field offsets that the
// C compiler gives it (layout/layout.c, built by CMake as kvmhost_go_layout), and every field is checked.
func TestLayoutStructs(t *testing.T) {
	tool := os.Getenv("KVMHOST_GO_LAYOUT_TOOL")
	if tool == "" {
		t.Skip("KVMHOST_GO_LAYOUT_TOOL is not set (ctest sets it to the kvmhost_go_layout program)")
	}
	out, err := exec.Command(tool).Output()
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	var want map[string]cLayout
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("%s printed no JSON: %v", tool, err)
	}
	got := cStructs()
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("layout.c prints struct %s, which layout.go's cStructs lacks", name)
		}
	}
	for name, typ := range got {
		w, ok := want[name]
		if !ok {
			t.Errorf("struct %s is used by the binding but layout.c does not print it", name)
			continue
		}
		if typ.Size() != w.Size {
			t.Errorf("sizeof(struct %s): Go %d, C %d", name, typ.Size(), w.Size)
		}
		seen := map[string]bool{}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			if f.Name == "_" { // cgo's padding
				continue
			}
			c := cFieldName(f.Name)
			seen[c] = true
			off, ok := w.Fields[c]
			if !ok {
				t.Errorf("struct %s: Go field %s is not checked by layout.c", name, f.Name)
				continue
			}
			if f.Offset != off {
				t.Errorf("offsetof(struct %s, %s): Go %d, C %d", name, c, f.Offset, off)
			}
		}
		for c := range w.Fields {
			if !seen[c] {
				t.Errorf("struct %s: C field %s has no Go field", name, c)
			}
		}
	}
	if len(got) == 0 || reflect.TypeOf(got) == nil {
		t.Fatal("no struct checked")
	}
}
