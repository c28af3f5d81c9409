// Package textstats counts words in documents for the search index.
package textstats

import (
	"bufio"
	"io"
	"sort"
	"strings"
	"unicode"
)

// Counts holds how often each word occurs; its zero value is ready to use.
type Counts struct {
	words map[string]int
	total int
}

// Add counts the words read from r, lower-cased, split on anything that is not a letter or digit.
func (c *Counts) Add(r io.Reader) error {
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		fields := strings.FieldsFunc(scanner.Text(), func(ch rune) bool {
			return !unicode.IsLetter(ch) && !unicode.IsDigit(ch)
		})
		for _, word := range fields {
			c.words[strings.ToLower(word)]++
			c.total++
		}
	}
	return scanner.Err()
}

// Entry is one word and its count.
type Entry struct {
	Word  string
	Count int
}

// Top returns the n most frequent words, ties broken alphabetically.
func (c *Counts) Top(n int) []Entry {
	entries := make([]Entry, 0, len(c.words))
	for word, count := range c.words {
		entries = append(entries, Entry{word, count})
	}
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].Count != entries[j].Count {
			return entries[i].Count > entries[j].Count
		}
		return entries[i].Word < entries[j].Word
	})
	if n < len(entries) {
		entries = entries[:n]
	}
	return entries
}

// Total is the number of words counted.
func (c *Counts) Total() int { return c.total }
