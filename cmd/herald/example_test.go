package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestSendExamplePublishesTheNewestSchemaExample(t *testing.T) {
	t.Parallel()
	ts := setup(t)
	snk := newSink(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app", map[string]any{"name": "Acme", "uid": "acme"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/acme/endpoint", map[string]any{"url": snk.URL}, nil); err != nil {
		t.Fatal(err)
	}
	schemas := map[string]any{
		"1":  map[string]any{"type": "object", "examples": []any{map[string]any{"old": true}}},
		"10": map[string]any{"type": "object", "examples": []any{map[string]any{"invoiceId": "inv_10"}, map[string]any{"second": 1}}},
		"2":  map[string]any{"type": "object", "examples": []any{map[string]any{"v": 2}}},
	}
	for name, s := range map[string]any{"invoice.paid": schemas, "invoice.bare": nil} {
		in := map[string]any{"name": name, "description": name}
		if s != nil {
			in["schemas"] = s
		}
		if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/event-type", in, nil); err != nil {
			t.Fatal(err)
		}
	}
	env := func(out *bytes.Buffer) Env {
		return Env{Stdin: strings.NewReader(""), Stdout: out, Stderr: out,
			Getenv: func(k string) string { return map[string]string{"HERALD_SERVER": ts.URL, "HERALD_TOKEN": ts.Token}[k] }}
	}

	var out bytes.Buffer
	if err := Main(ctx, []string{"send", "--app", "acme", "--type", "invoice.paid", "--example", "--wait", "30s"}, env(&out)); err != nil {
		t.Fatalf("send --example: %v\n%s", err, out.String())
	}
	msgID, _, _ := strings.Cut(out.String(), "\n")
	snk.mu.Lock()
	body := string(snk.requests[0].Body)
	snk.mu.Unlock()
	if want := `{"invoiceId":"inv_10"}`; snk.count(msgID) != 1 || body != want {
		t.Errorf("delivered %s %d time(s) with body %s, want once with the first example of version 10: %s", msgID, snk.count(msgID), body, want)
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no schema", []string{"--type", "invoice.bare", "--example"}, "no example"},
		{"unknown event type", []string{"--type", "invoice.nope", "--example"}, "404"},
		{"example and data", []string{"--type", "invoice.paid", "--example", "--data", "{}"}, "not several"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		err := Main(ctx, append([]string{"send", "--app", "acme"}, tt.args...), env(&out))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got error %v, want one mentioning %q", tt.name, err, tt.want)
		}
	}
}
