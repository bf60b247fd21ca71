package proc

import (
	"context"
	"sync"
)

// A run asks some questions whose answer cannot change while it lasts (a
// tool's version): Remember asks each once per run. plan.Run sets the
// memo up; without one every call asks again.

type memoKey struct{}

type memo struct {
	mu      sync.Mutex
	answers map[string]Result
}

// WithMemo returns ctx with an empty memo for Remember.
func WithMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, memoKey{}, &memo{answers: map[string]Result{}})
}

// Remember returns ask's result for key, asking only the first time in
// ctx's memo. A failed answer is not kept: the next caller asks again.
func Remember(ctx context.Context, key string, ask func() (Result, error)) (Result, error) {
	m, _ := ctx.Value(memoKey{}).(*memo)
	if m == nil {
		return ask()
	}
	m.mu.Lock()
	defer m.mu.Unlock() // one ask at a time: two targets asking for the same version wait for one answer
	if res, ok := m.answers[key]; ok {
		return res, nil
	}
	res, err := ask()
	if err == nil {
		m.answers[key] = res
	}
	return res, err
}
