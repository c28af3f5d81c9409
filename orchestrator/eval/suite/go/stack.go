// Package collections holds small generic containers used across the services.
package collections

import "errors"

// ErrEmpty is returned when popping or peeking an empty stack.
var ErrEmpty = errors.New("stack is empty")

// Stack is a last-in, first-out stack; its zero value is an empty stack ready to use.
type Stack[T any] struct {
	items []T
}

// Push adds v on top.
func (s *Stack[T]) Push(v T) {
	s.items = append(s.items, v)
}

// Pop removes and returns the top value.
func (s *Stack[T]) Pop() (T, error) {
	var zero T
	if len(s.items) == 0 {
		return zero, ErrEmpty
	}
	last := len(s.items) - 1
	v := s.items[last]
	s.items[last] = zero // let the garbage collector have what the value points to
	s.items = s.items[:last]
	return v, nil
}

// Peek returns the top value without removing it.
func (s *Stack[T]) Peek() (T, error) {
	if len(s.items) == 0 {
		var zero T
		return zero, ErrEmpty
	}
	return s.items[len(s.items)-1], nil
}

// Len is the number of values on the stack.
func (s *Stack[T]) Len() int { return len(s.items) }

// Drain pops every value, top first, into a slice.
func (s *Stack[T]) Drain() []T {
	out := make([]T, 0, len(s.items))
	for len(s.items) > 0 {
		v, _ := s.Pop()
		out = append(out, v)
	}
	return out
}
