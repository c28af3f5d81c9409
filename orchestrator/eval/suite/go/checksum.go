// Package manifest verifies the files of a release against their SHA-256 checksums.
package manifest

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Mismatch is a file whose checksum differs from the manifest's.
type Mismatch struct {
	Path     string
	Expected string
	Actual   string
}

// ReadManifest parses "<hex>  <path>" lines, as sha256sum writes them.
func ReadManifest(r io.Reader) (map[string]string, error) {
	sums := map[string]string{}
	scanner := bufio.NewScanner(r)
	for line := 1; scanner.Scan(); line++ {
		text := strings.TrimSpace(scanner.Text())
		if text == "" {
			continue
		}
		sum, path, ok := strings.Cut(text, "  ")
		if !ok || len(sum) != 64 {
			return nil, fmt.Errorf("manifest line %d: expected '<sha256>  <path>'", line)
		}
		sums[path] = strings.ToLower(sum)
	}
	return sums, scanner.Err()
}

// Verify hashes every file named in the manifest under dir.
func Verify(dir string, sums map[string]string) ([]Mismatch, error) {
	var mismatches []Mismatch
	for path, expected := range sums {
		f, err := os.Open(filepath.Join(dir, path))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		hash := sha256.New()
		if _, err := io.Copy(hash, f); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if actual := hex.EncodeToString(hash.Sum(nil)); actual != expected {
			mismatches = append(mismatches, Mismatch{path, expected, actual})
		}
	}
	return mismatches, nil
}
