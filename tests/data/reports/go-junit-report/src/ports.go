// Package ports is a tiny package for the gate's report fixtures.
package ports

import (
	"fmt"
	"strconv"
	"strings"
)

// Port parses a port number.
func Port(text string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(text), 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad port %q: %w", text, err)
	}
	return uint16(n), nil
}
