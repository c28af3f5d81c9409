// Package ratelimit limits requests per client with token buckets.
package ratelimit

import (
	"sync"
	"time"
)

// Bucket holds up to Burst tokens and refills at Rate tokens per second.
type Bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

// NewBucket returns a full bucket; now is time.Now outside tests.
func NewBucket(rate, burst float64, now func() time.Time) *Bucket {
	return &Bucket{rate: rate, burst: burst, tokens: burst, last: now(), now: now}
}

// Allow takes one token if there is one.
func (b *Bucket) Allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	elapsed := now.Sub(b.last).Seconds()
	if elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Limiter keeps one bucket per client key.
type Limiter struct {
	mu      sync.Mutex
	buckets map[string]*Bucket
	rate    float64
	burst   float64
	now     func() time.Time
}

// NewLimiter returns a limiter whose buckets refill at rate and hold burst tokens.
func NewLimiter(rate, burst float64, now func() time.Time) *Limiter {
	return &Limiter{buckets: map[string]*Bucket{}, rate: rate, burst: burst, now: now}
}

// Allow reports whether the client identified by key may make a request now.
func (l *Limiter) Allow(key string) bool {
	l.mu.Lock()
	b, ok := l.buckets[key]
	if !ok {
		b = NewBucket(l.rate, l.burst, l.now)
		l.buckets[key] = b
	}
	l.mu.Unlock()
	return b.Allow()
}
