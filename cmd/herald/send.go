package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"
)

// runSend publishes one event through the API, the way an application
// would, and optionally waits for the outcome of each delivery.
func runSend(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	server := fs.String("server", "", "Herald server URL")
	token := fs.String("token", "", "API token")
	app := fs.String("app", "", "application id or uid")
	eventType := fs.String("type", "", "event type")
	data := fs.String("data", "", "JSON payload (an object); see also --file")
	file := fs.String("file", "", "read the JSON payload from this file, or - for stdin")
	example := fs.Bool("example", false, "publish the example of the event type's schema as the payload")
	eventID := fs.String("event-id", "", "optional unique event id")
	var channels listFlag
	fs.Var(&channels, "channel", "channel (repeatable)")
	wait := fs.Duration("wait", 0, "wait up to this long for every delivery to finish, and print each outcome")
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if *app == "" || *eventType == "" {
		return errors.New("--app and --type are required")
	}
	if *example && (*data != "" || *file != "") {
		return errors.New("give --example, --data or --file, not several")
	}
	c, err := newAPIClient(*server, *token)
	if err != nil {
		return err
	}
	var payload json.RawMessage
	if *example {
		payload, err = examplePayload(ctx, c, *eventType)
	} else {
		payload, err = readPayload(*data, *file, env.Stdin)
	}
	if err != nil {
		return err
	}

	// The payload is spliced in unchanged: json.Marshal would compact it,
	// and Herald delivers exactly the bytes it was given.
	head := map[string]any{"eventType": *eventType}
	if *eventID != "" {
		head["eventId"] = *eventID
	}
	if len(channels) > 0 {
		head["channels"] = channels
	}
	b, err := json.Marshal(head)
	if err != nil {
		return err
	}
	in := append(append(append(b[:len(b)-1], `,"payload":`...), payload...), '}')
	var msg struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, "POST", "/api/v1/app/"+url.PathEscape(*app)+"/msg", in, &msg); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	fmt.Fprintln(env.Stdout, msg.ID)
	if *wait > 0 {
		return waitDeliveries(ctx, c, env, *app, msg.ID, *wait)
	}
	return nil
}

// readPayload returns the payload from --data or --file; it must be a JSON
// object, as the API requires.
func readPayload(data, file string, stdin io.Reader) (json.RawMessage, error) {
	var raw []byte
	switch {
	case data != "" && file != "":
		return nil, errors.New("give the payload with --data or --file, not both")
	case data != "":
		raw = []byte(data)
	case file == "-":
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		raw = b
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read payload: %w", err)
		}
		raw = b
	default:
		raw = []byte("{}")
	}
	raw = bytes.TrimSpace(raw)
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("the payload must be a JSON object: %w", err)
	}
	return raw, nil
}

// waitDeliveries polls the message's destinations until none is pending,
// or limit has passed, then prints one line per endpoint. The limit does
// not cancel a poll in flight: it ends the wait with what was last read.
func waitDeliveries(ctx context.Context, c *apiClient, env Env, app, msgID string, limit time.Duration) error {
	type dest struct {
		ID     string `json:"id"`
		URL    string `json:"url"`
		Status int    `json:"status"` // Svix MessageStatus: 0 success, 1 pending, 2 fail, 3 sending
	}
	statusText := map[int]string{0: "success", 1: "pending", 2: "fail", 3: "sending"}
	var list struct {
		Data []dest `json:"data"`
	}
	expired := time.NewTimer(limit)
	defer expired.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := c.do(ctx, "GET", "/api/v1/app/"+url.PathEscape(app)+"/msg/"+url.PathEscape(msgID)+"/endpoint?limit=250", nil, &list)
		if err != nil {
			return fmt.Errorf("read deliveries: %w", err)
		}
		pending, failed := 0, 0
		for _, d := range list.Data {
			switch d.Status {
			case 0:
			case 1, 3:
				pending++
			default:
				failed++
			}
		}
		timedOut := false
		if pending > 0 {
			select {
			case <-expired.C:
				timedOut = true
			default:
			}
		}
		if pending == 0 || timedOut {
			for _, d := range list.Data {
				fmt.Fprintf(env.Stdout, "%s\t%s\t%s\n", d.ID, statusText[d.Status], d.URL)
			}
		}
		switch {
		case timedOut:
			return fmt.Errorf("%d of %d deliveries still pending after %s", pending, len(list.Data), limit)
		case pending == 0 && failed > 0:
			return fmt.Errorf("%d of %d deliveries failed", failed, len(list.Data))
		case pending == 0:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
