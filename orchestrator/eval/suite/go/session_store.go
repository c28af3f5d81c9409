// Package session keeps login sessions in memory with an idle timeout.
package session

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

type Session struct {
	ID       string
	UserID   int64
	LastSeen time.Time
}

type Store struct {
	mu       sync.RWMutex
	sessions map[string]*Session
	idle     time.Duration
}

func NewStore(idle time.Duration) *Store {
	return &Store{sessions: make(map[string]*Session), idle: idle}
}

func newID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// Create starts a session for a user and returns it.
func (s *Store) Create(userID int64) *Session {
	sess := &Session{ID: newID(), UserID: userID, LastSeen: time.Now()}
	s.mu.Lock()
	s.sessions[sess.ID] = sess
	s.mu.Unlock()
	return sess
}

// Touch returns the live session with this ID and marks it as seen; expired ones are removed.
func (s *Store) Touch(id string) (*Session, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sess, ok := s.sessions[id]
	if !ok {
		return nil, false
	}
	if time.Since(sess.LastSeen) > s.idle {
		delete(s.sessions, id)
		return nil, false
	}
	sess.LastSeen = time.Now()
	return sess, true
}
