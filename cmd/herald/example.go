package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/heraldhq/herald/internal/herald"
)

// examplePayload returns the first example of the newest schema version
// of an event type, as `herald send --example` publishes it.
func examplePayload(ctx context.Context, c *apiClient, eventType string) (json.RawMessage, error) {
	var et struct {
		Schemas map[string]struct {
			Examples []json.RawMessage `json:"examples"`
		} `json:"schemas"`
	}
	if err := c.do(ctx, "GET", "/api/v1/event-type/"+url.PathEscape(eventType), nil, &et); err != nil {
		return nil, fmt.Errorf("read event type %s: %w", eventType, err)
	}
	versions := make([]string, 0, len(et.Schemas))
	for v := range et.Schemas {
		versions = append(versions, v)
	}
	// Only the newest version's examples describe today's payload; the API
	// picks the same one for send-example.
	if len(versions) > 0 {
		for _, ex := range et.Schemas[herald.NewestSchemaVersion(versions)].Examples {
			var obj map[string]json.RawMessage
			if json.Unmarshal(ex, &obj) == nil {
				return ex, nil
			}
		}
	}
	return nil, fmt.Errorf("event type %s has no example object in its newest schema; give the payload with --data or --file", eventType)
}
