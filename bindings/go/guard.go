package kvmhost

import "sync"

// guard keeps a C handle alive while calls use it: Close waits for the calls in progress (after making the
// ones that block return), and calls that start after Close began fail with ErrClosed. Unlike a RWMutex it
// never makes a call wait for a pending Close, so an event callback that calls back into the handle while
// another goroutine closes it gets ErrClosed instead of a deadlock.
type guard struct {
	mu      sync.Mutex
	idle    sync.Cond
	n       int
	closing bool
}

func (g *guard) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.n++
	return true
}

func (g *guard) exit() {
	g.mu.Lock()
	g.n--
	if g.n == 0 && g.idle.L != nil {
		g.idle.Broadcast()
	}
	g.mu.Unlock()
}

// beginClose marks the handle closing; false if it already was (Close twice).
func (g *guard) beginClose() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.closing = true
	return true
}

// drain waits until no call is in progress.
func (g *guard) drain() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.idle.L == nil {
		g.idle.L = &g.mu
	}
	for g.n > 0 {
		g.idle.Wait()
	}
}

func (g *guard) closed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closing
}
