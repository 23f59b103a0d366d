package shadow

import (
	"sync"
	"time"
)

// maxIdleBuckets bounds the per-thing buckets kept before idle ones (full
// again, so forgetting them changes nothing) are swept: thing names come
// from clients, and a client cycling through names must not grow memory.
const maxIdleBuckets = 4096

// limiter is a token bucket per thing: rate tokens a second, at most rate
// in the bucket, so a thing may burst one second's worth after being quiet.
type limiter struct {
	rate float64 // tokens per second; <= 0 means unlimited

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(perSecond int) *limiter {
	return &limiter{rate: float64(perSecond), buckets: make(map[string]*bucket)}
}

// allow takes a token for thing at now, or reports false.
func (l *limiter) allow(thing string, now time.Time) bool {
	if l.rate <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[thing]
	if !ok {
		if len(l.buckets) >= maxIdleBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: l.rate, last: now}
		l.buckets[thing] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(l.rate, b.tokens+elapsed*l.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep forgets buckets that have refilled completely.
func (l *limiter) sweep(now time.Time) {
	for thing, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.rate {
			delete(l.buckets, thing)
		}
	}
}
