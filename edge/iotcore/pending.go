package iotcore

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
)

// Pending matches AWS IoT's answers to the requests a service sent with a
// clientToken (IoT Jobs, Device Shadow: the answer on …/accepted or
// …/rejected carries the request's token). The zero Pending is ready.
type Pending[T any] struct {
	mu      sync.Mutex
	waiters map[string]chan T
}

// Add registers a new, random clientToken and returns it with the channel
// its answer arrives on; done forgets the token (call it when the wait
// ends, answered or not).
func (p *Pending[T]) Add() (token string, answer <-chan T, done func()) {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	token = hex.EncodeToString(b)
	ch := make(chan T, 1)
	p.mu.Lock()
	if p.waiters == nil {
		p.waiters = map[string]chan T{}
	}
	p.waiters[token] = ch
	p.mu.Unlock()
	return token, ch, func() {
		p.mu.Lock()
		delete(p.waiters, token)
		p.mu.Unlock()
	}
}

// Answer delivers v to the request waiting on token and reports whether
// one was: an answer to another process's request, or a second answer to
// the same one, is dropped.
func (p *Pending[T]) Answer(token string, v T) bool {
	p.mu.Lock()
	ch := p.waiters[token]
	delete(p.waiters, token)
	p.mu.Unlock()
	if ch == nil {
		return false
	}
	ch <- v // buffered, and removed above: never blocks
	return true
}
