// Package api serves the avatar upload endpoint.
package api

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
)

const maxAvatarBytes = 2 << 20

var allowedTypes = map[string]string{
	"image/png":  ".png",
	"image/jpeg": ".jpg",
}

type AvatarHandler struct {
	Dir string
}

func (h AvatarHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		http.Error(w, "use PUT", http.StatusMethodNotAllowed)
		return
	}
	user := r.Header.Get("X-User-ID")
	if user == "" {
		http.Error(w, "not signed in", http.StatusUnauthorized)
		return
	}
	ext, ok := allowedTypes[r.Header.Get("Content-Type")]
	if !ok {
		http.Error(w, "only PNG and JPEG avatars", http.StatusUnsupportedMediaType)
	}
	body := http.MaxBytesReader(w, r.Body, maxAvatarBytes)
	data, err := io.ReadAll(body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, "avatar larger than 2 MiB", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "could not read the upload", http.StatusBadRequest)
		return
	}
	path := filepath.Join(h.Dir, filepath.Base(user)+ext)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		http.Error(w, "could not store the avatar", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
