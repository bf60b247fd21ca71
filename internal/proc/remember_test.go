package proc

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// Within a memo each key is asked once, even by callers at the same time;
// a failure is asked again; without a memo every call asks.
func TestRemember(t *testing.T) {
	ctx := WithMemo(context.Background())
	var mu sync.Mutex
	asked := map[string]int{}
	ask := func(key string, fail bool) func() (Result, error) {
		return func() (Result, error) {
			mu.Lock()
			asked[key]++
			mu.Unlock()
			if fail {
				return Result{}, errors.New("no answer")
			}
			return Result{Stdout: []byte(key + " 1.2.3")}, nil
		}
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := Remember(ctx, "restic version", ask("restic version", false))
			if err != nil || string(res.Stdout) != "restic version 1.2.3" {
				t.Errorf("got %q, %v", res.Stdout, err)
			}
		}()
	}
	wg.Wait()
	for range 2 {
		if _, err := Remember(ctx, "borg --version", ask("borg --version", true)); err == nil {
			t.Fatal("a failure was remembered as an answer")
		}
		Remember(context.Background(), "rsync --version", ask("rsync --version", false))
	}
	if asked["restic version"] != 1 || asked["borg --version"] != 2 || asked["rsync --version"] != 2 {
		t.Fatalf("asked %v", asked)
	}
}
