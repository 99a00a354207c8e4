package pmi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
)

// TestClientAgainstServer: four ranks on one node put, meet at a barrier
// and read every rank's value through Client, served by Server.
func TestClientAgainstServer(t *testing.T) {
	const size = 4
	srv := NewServer(Job{ID: "7.0", Size: size}, size, Local)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, size)
	for r := range size {
		ours, theirs := net.Pipe()
		go func() { _ = srv.Serve(ctx, r, ours) }()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer theirs.Close()
			errs[r] = func() error {
				c, err := NewClient(theirs, r, size)
				if err != nil {
					return err
				}
				if err := c.Put(fmt.Sprintf("addr-%d", r), fmt.Sprintf("10.0.0.%d:99", r)); err != nil {
					return err
				}
				if err := c.Barrier(); err != nil {
					return err
				}
				for o := range size {
					v, err := c.Get(fmt.Sprintf("addr-%d", o))
					if err != nil {
						return err
					}
					if want := fmt.Sprintf("10.0.0.%d:99", o); v != want {
						return fmt.Errorf("rank %d: Get(addr-%d) = %q; want %q", r, o, v, want)
					}
				}
				if _, err := c.Get("missing"); err == nil {
					return fmt.Errorf("rank %d: Get(missing) found a value", r)
				}
				if err := c.Put("bad key", "v"); err == nil || !strings.Contains(err.Error(), "space") {
					return fmt.Errorf("rank %d: Put with a space = %v; want a refusal", r, err)
				}
				return c.Finalize()
			}()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func TestClientFromEnvWithoutPMI(t *testing.T) {
	if _, err := ClientFromEnv(func(string) string { return "" }); !errors.Is(err, ErrNoPMI) {
		t.Errorf("ClientFromEnv without PMI_FD = %v; want ErrNoPMI", err)
	}
}
