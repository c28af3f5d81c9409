// Package crawl fetches the pages of a sitemap concurrently.
package crawl

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Page is one fetched URL: its status and size, or the error that stopped it.
type Page struct {
	URL    string
	Status int
	Bytes  int64
	Err    error
}

var client = &http.Client{Timeout: 15 * time.Second}

func fetch(url string) Page {
	resp, err := client.Get(url)
	if err != nil {
		return Page{URL: url, Err: err}
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return Page{URL: url, Status: resp.StatusCode, Err: fmt.Errorf("reading body: %w", err)}
	}
	return Page{URL: url, Status: resp.StatusCode, Bytes: n}
}

// FetchAll fetches every URL, at most `limit` at a time, and returns the pages in input order.
func FetchAll(urls []string, limit int) []Page {
	pages := make([]Page, len(urls))
	slots := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, url := range urls {
		go func(i int, url string) {
			wg.Add(1)
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			pages[i] = fetch(url)
		}(i, url)
	}
	wg.Wait()
	return pages
}
