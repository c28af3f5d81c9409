// Package config reads the service's settings from the environment.
package config

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// Settings are the service's tunables, with their defaults.
type Settings struct {
	Port            int
	ReadTimeout     time.Duration
	MaxConnections  int
	EnableProfiling bool
}

// Defaults are used for every variable that is unset.
var Defaults = Settings{Port: 8080, ReadTimeout: 10 * time.Second, MaxConnections: 100}

// FromEnv reads the settings; lookup is os.LookupEnv outside tests.
func FromEnv(lookup func(string) (string, bool)) (Settings, error) {
	s := Defaults
	if v, ok := lookup("PORT"); ok {
		port, err := strconv.Atoi(v)
		if err != nil || port < 1 || port > 65535 {
			return Settings{}, fmt.Errorf("PORT: expected a port number 1-65535, got %q", v)
		}
		s.Port = port
	}
	if v, ok := lookup("READ_TIMEOUT"); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Settings{}, fmt.Errorf("READ_TIMEOUT: expected a duration such as 10s, got %q", v)
		}
		s.ReadTimeout = d
	}
	if v, ok := lookup("MAX_CONNECTIONS"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return Settings{}, fmt.Errorf("MAX_CONNECTIONS: expected a positive number, got %q", v)
		}
		s.MaxConnections = n
	}
	if v, ok := lookup("ENABLE_PROFILING"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Settings{}, fmt.Errorf("ENABLE_PROFILING: expected true or false, got %q", v)
		}
		s.EnableProfiling = b
	}
	return s, nil
}

// Load reads the settings from the process environment.
func Load() (Settings, error) { return FromEnv(os.LookupEnv) }
