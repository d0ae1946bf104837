package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// apiClient is the small HTTP client the developer commands use to talk
// to a running Herald.
type apiClient struct {
	server string
	token  string
	http   *http.Client
}

func newAPIClient(server, token string) (*apiClient, error) {
	if err := checkServer(server); err != nil {
		return nil, err
	}
	if token == "" {
		return nil, errors.New("--token (or HERALD_TOKEN) is required")
	}
	return &apiClient{
		server: strings.TrimRight(server, "/"),
		token:  token,
		http:   &http.Client{Timeout: 30 * time.Second},
	}, nil
}

// checkServer refuses a --server that is missing or has no http(s)
// scheme: "localhost:8080", as curl takes it, would fail later as an
// "unsupported protocol scheme".
func checkServer(server string) error {
	switch {
	case server == "":
		return errors.New("--server (or HERALD_SERVER) is required, e.g. http://localhost:8080")
	case !strings.HasPrefix(server, "http://") && !strings.HasPrefix(server, "https://"):
		return fmt.Errorf("--server %q must start with http:// or https://, e.g. http://%s", server, server)
	}
	return nil
}

// apiError is an error answer from the server, with its Svix-style body.
type apiError struct {
	Status int
	Code   string
	Detail string
}

func (e *apiError) Error() string {
	switch {
	case e.Code != "":
		return fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Detail)
	case e.Detail != "":
		return fmt.Sprintf("server answered %d: %s", e.Status, e.Detail)
	}
	return fmt.Sprintf("server answered %d", e.Status)
}

// errorDetail is the detail of an error answer: Svix's string, or its
// validation errors ({"loc": [...], "msg": ...} each) as "loc: msg" lines
// joined by "; ".
func errorDetail(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []struct {
		Loc []any  `json:"loc"`
		Msg string `json:"msg"`
	}
	if json.Unmarshal(raw, &list) != nil || len(list) == 0 {
		return string(raw)
	}
	parts := make([]string, len(list))
	for i, v := range list {
		loc := make([]string, len(v.Loc))
		for j, l := range v.Loc {
			loc[j] = fmt.Sprint(l)
		}
		parts[i] = strings.Join(loc, ".") + ": " + v.Msg
	}
	return strings.Join(parts, "; ")
}

// do sends a JSON request and decodes a JSON answer into out (if non-nil).
// A []byte in is sent as it is.
func (c *apiClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if raw, ok := in.([]byte); ok {
		body = bytes.NewReader(raw) // already encoded; sent byte for byte
	} else if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		e := &apiError{Status: resp.StatusCode}
		var eb struct {
			Code   string          `json:"code"`
			Detail json.RawMessage `json:"detail"`
		}
		if json.Unmarshal(raw, &eb) == nil {
			e.Code = eb.Code
			if len(eb.Detail) > 0 {
				e.Detail = errorDetail(eb.Detail)
			}
		}
		return e
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
	}
	return nil
}
