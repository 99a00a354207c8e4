package twin

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gefion-hpc/gefion/internal/twin/trace"
)

func openTestdata(t *testing.T, name string, format trace.Format) *trace.CSVReader {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r, err := trace.Open(f, trace.Options{Format: format, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
