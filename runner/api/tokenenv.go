package api

import (
	"fmt"
	"os"
	"strings"
)

// TokenFromEnv reads RUNCOMFY_API_TOKEN, else the file
// RUNCOMFY_API_TOKEN_FILE names, else RUNCOMFY_TOKEN: the name RunComfy's
// own CLI and ComfyUI nodes read, so a machine set up for them needs
// nothing more. Without any, the error is ErrNoToken.
func TokenFromEnv() (Token, error) {
	if t := strings.TrimSpace(os.Getenv("RUNCOMFY_API_TOKEN")); t != "" {
		return Token(t), nil
	}
	if p := os.Getenv("RUNCOMFY_API_TOKEN_FILE"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("read RUNCOMFY_API_TOKEN_FILE: %w: %w", ErrNoToken, err)
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return Token(t), nil
		}
		return "", fmt.Errorf("RUNCOMFY_API_TOKEN_FILE %s is empty: %w", p, ErrNoToken)
	}
	if t := strings.TrimSpace(os.Getenv("RUNCOMFY_TOKEN")); t != "" {
		return Token(t), nil
	}
	return "", fmt.Errorf("set RUNCOMFY_API_TOKEN (or RUNCOMFY_API_TOKEN_FILE, or RUNCOMFY_TOKEN): %w", ErrNoToken)
}
