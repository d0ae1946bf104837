package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// refDocPath is the Svix server's OpenAPI document, the reference the API
// must stay wire-compatible with (docs: "Compatibility is a feature").
const refDocPath = "testdata/svix-server-openapi.json"

// refDoc is a decoded OpenAPI 3.0 document with a validator for the part
// of JSON Schema the reference uses. Extra properties are allowed: Herald
// may add its own.
type refDoc struct {
	doc map[string]any

	mu       sync.Mutex
	patterns map[string]*regexp.Regexp
}

var loadRef = sync.OnceValues(func() (*refDoc, error) {
	raw, err := os.ReadFile(refDocPath)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("decode %s: %w", refDocPath, err)
	}
	return &refDoc{doc: doc, patterns: map[string]*regexp.Regexp{}}, nil
})

func reference(t *testing.T) *refDoc {
	t.Helper()
	d, err := loadRef()
	if err != nil {
		t.Fatalf("load the reference: %v", err)
	}
	return d
}

// docAt walks the document by keys, returning nil where something is missing.
func docAt(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// schema returns the component schema called name.
func (d *refDoc) schema(name string) map[string]any {
	s, _ := docAt(d.doc, "components", "schemas", name).(map[string]any)
	return s
}

// response returns the reference's answer for an operation and status:
// whether the status is documented, and the JSON schema of its body (nil
// for a body-less answer).
func (d *refDoc) response(method, path string, status int) (documented bool, schema any) {
	r := docAt(d.doc, "paths", path, strings.ToLower(method), "responses", fmt.Sprint(status))
	if r == nil {
		return false, nil
	}
	return true, docAt(r, "content", "application/json", "schema")
}

// documentsSuccess reports whether the reference lists any 2xx answer
// for the operation. Some list none (expunge-content): there any
// body-less 2xx is taken as right.
func (d *refDoc) documentsSuccess(method, path string) bool {
	responses, _ := docAt(d.doc, "paths", path, strings.ToLower(method), "responses").(map[string]any)
	for status := range responses {
		if strings.HasPrefix(status, "2") {
			return true
		}
	}
	return false
}

// validateJSON checks raw against schema and returns every mismatch.
// Numbers are kept as written, so integers are told from other numbers.
func (d *refDoc) validateJSON(schema any, raw []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return []string{"$: not JSON: " + err.Error()}
	}
	var errs []string
	d.validate(schema, v, "$", "", &errs)
	return errs
}

// validate appends to errs each way v breaks schema, naming where, and
// the component schema (in) that asks for what is missing.
func (d *refDoc) validate(schema any, v any, at, in string, errs *[]string) {
	s, ok := schema.(map[string]any)
	if !ok {
		*errs = append(*errs, fmt.Sprintf("%s: the reference has no schema here", at))
		return
	}
	if ref, ok := s["$ref"].(string); ok {
		name, found := strings.CutPrefix(ref, "#/components/schemas/")
		target := d.schema(name)
		if !found || target == nil {
			*errs = append(*errs, fmt.Sprintf("%s: unresolvable $ref %q", at, ref))
			return
		}
		d.validate(target, v, at, name, errs)
		return
	}
	if v == nil {
		if s["nullable"] != true && s["type"] != nil {
			*errs = append(*errs, fmt.Sprintf("%s: null, want %v", at, s["type"]))
		}
		return
	}
	d.validateCombined(s, v, at, in, errs)
	switch s["type"] {
	case nil:
		validateEnum(s, v, at, errs)
	case "object":
		d.validateObject(s, v, at, in, errs)
	case "array":
		d.validateArray(s, v, at, in, errs)
	case "string":
		d.validateString(s, v, at, errs)
	case "integer", "number":
		validateNumber(s, v, at, errs)
	case "boolean":
		if _, ok := v.(bool); !ok {
			*errs = append(*errs, fmt.Sprintf("%s: %s, want a boolean", at, jsonText(v)))
		}
	default:
		*errs = append(*errs, fmt.Sprintf("%s: the validator does not know type %v", at, s["type"]))
	}
}

// validateCombined applies allOf, anyOf and oneOf.
func (d *refDoc) validateCombined(s map[string]any, v any, at, in string, errs *[]string) {
	for _, sub := range asList(s["allOf"]) {
		d.validate(sub, v, at, in, errs)
	}
	if subs := asList(s["anyOf"]); subs != nil && d.matching(subs, v, at) == 0 {
		*errs = append(*errs, fmt.Sprintf("%s: matches none of anyOf", at))
	}
	if subs := asList(s["oneOf"]); subs != nil {
		if n := d.matching(subs, v, at); n != 1 {
			*errs = append(*errs, fmt.Sprintf("%s: matches %d of oneOf, want 1", at, n))
		}
	}
}

// matching counts the schemas v satisfies.
func (d *refDoc) matching(schemas []any, v any, at string) int {
	n := 0
	for _, sub := range schemas {
		var sink []string
		if d.validate(sub, v, at, "", &sink); len(sink) == 0 {
			n++
		}
	}
	return n
}

func (d *refDoc) validateObject(s map[string]any, v any, at, in string, errs *[]string) {
	obj, ok := v.(map[string]any)
	if !ok {
		*errs = append(*errs, fmt.Sprintf("%s: %s, want an object", at, jsonText(v)))
		return
	}
	for _, name := range asList(s["required"]) {
		if _, ok := obj[name.(string)]; !ok {
			*errs = append(*errs, fmt.Sprintf("%s.%s: required by %s, missing", at, name, in))
		}
	}
	props, _ := s["properties"].(map[string]any)
	for name, val := range obj {
		if sub, ok := props[name]; ok {
			d.validate(sub, val, at+"."+name, in, errs)
			continue
		}
		// Extra properties are Herald's own, except in a map whose values
		// the reference types.
		if extra, ok := s["additionalProperties"].(map[string]any); ok {
			d.validate(extra, val, at+"."+name, in, errs)
		} else if s["additionalProperties"] == false {
			*errs = append(*errs, fmt.Sprintf("%s.%s: not allowed", at, name))
		}
	}
}

func (d *refDoc) validateArray(s map[string]any, v any, at, in string, errs *[]string) {
	list, ok := v.([]any)
	if !ok {
		*errs = append(*errs, fmt.Sprintf("%s: %s, want an array", at, jsonText(v)))
		return
	}
	if n, ok := bound(s, "minItems"); ok && float64(len(list)) < n {
		*errs = append(*errs, fmt.Sprintf("%s: %d items, want at least %v", at, len(list), n))
	}
	if n, ok := bound(s, "maxItems"); ok && float64(len(list)) > n {
		*errs = append(*errs, fmt.Sprintf("%s: %d items, want at most %v", at, len(list), n))
	}
	seen := map[string]bool{}
	for i, item := range list {
		if s["uniqueItems"] == true {
			if k := jsonText(item); seen[k] {
				*errs = append(*errs, fmt.Sprintf("%s[%d]: %s repeated, want unique items", at, i, k))
			} else {
				seen[k] = true
			}
		}
		if items, ok := s["items"]; ok {
			d.validate(items, item, fmt.Sprintf("%s[%d]", at, i), in, errs)
		}
	}
}

func (d *refDoc) validateString(s map[string]any, v any, at string, errs *[]string) {
	str, ok := v.(string)
	if !ok {
		*errs = append(*errs, fmt.Sprintf("%s: %s, want a string", at, jsonText(v)))
		return
	}
	validateEnum(s, v, at, errs)
	n := float64(utf8.RuneCountInString(str))
	if min, ok := bound(s, "minLength"); ok && n < min {
		*errs = append(*errs, fmt.Sprintf("%s: %q is shorter than %v", at, str, min))
	}
	if max, ok := bound(s, "maxLength"); ok && n > max {
		*errs = append(*errs, fmt.Sprintf("%s: %d characters, want at most %v", at, int(n), max))
	}
	if p, ok := s["pattern"].(string); ok && !d.pattern(p).MatchString(str) {
		*errs = append(*errs, fmt.Sprintf("%s: %q does not match %s", at, str, p))
	}
	switch s["format"] {
	case "date-time":
		if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
			*errs = append(*errs, fmt.Sprintf("%s: %q is not an RFC 3339 date-time", at, str))
		}
	case "uri":
		if u, err := url.Parse(str); err != nil || !u.IsAbs() {
			*errs = append(*errs, fmt.Sprintf("%s: %q is not an absolute URI", at, str))
		}
	}
}

func validateNumber(s map[string]any, v any, at string, errs *[]string) {
	num, ok := v.(json.Number)
	if !ok {
		*errs = append(*errs, fmt.Sprintf("%s: %s, want %s", at, jsonText(v), s["type"]))
		return
	}
	if s["type"] == "integer" {
		if _, err := num.Int64(); err != nil {
			*errs = append(*errs, fmt.Sprintf("%s: %s, want an integer", at, num))
			return
		}
	}
	validateEnum(s, v, at, errs)
	f, _ := num.Float64()
	if min, ok := bound(s, "minimum"); ok && f < min {
		*errs = append(*errs, fmt.Sprintf("%s: %s, want at least %v", at, num, min))
	}
	if max, ok := bound(s, "maximum"); ok && f > max {
		*errs = append(*errs, fmt.Sprintf("%s: %s, want at most %v", at, num, max))
	}
}

// pattern compiles a reference pattern once. The reference writes them in
// the ECMA dialect, which for its patterns Go's RE2 reads the same.
func (d *refDoc) pattern(p string) *regexp.Regexp {
	d.mu.Lock()
	defer d.mu.Unlock()
	re, ok := d.patterns[p]
	if !ok {
		re = regexp.MustCompile(p)
		d.patterns[p] = re
	}
	return re
}

func bound(s map[string]any, key string) (float64, bool) {
	n, ok := s[key].(float64)
	return n, ok
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// validateEnum checks v, already of the right type, against the enum.
func validateEnum(s map[string]any, v any, at string, errs *[]string) {
	if enum, ok := s["enum"].([]any); ok && !inEnum(enum, v) {
		*errs = append(*errs, fmt.Sprintf("%s: %s is not one of %v", at, jsonText(v), enum))
	}
}

// inEnum compares by JSON text: the reference's numbers are float64, the
// body's json.Number.
func inEnum(enum []any, v any) bool {
	got := jsonText(v)
	for _, e := range enum {
		if jsonText(e) == got {
			return true
		}
	}
	return false
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// The validator must be able to fail, or a passing shape test means
// nothing.
func TestReferenceValidatorFindsMismatches(t *testing.T) {
	t.Parallel()
	ref := reference(t)
	const attempt = `"id":"atmpt_1","msgId":"msg_1","endpointId":"ep_1","url":"https://example.com/hook",` +
		`"response":"ok","responseStatusCode":200,"responseDurationMs":12,"timestamp":"2026-05-01T12:00:00.123Z"`
	tests := []struct {
		name   string
		schema string
		body   string
		want   []string // substrings of the errors, one each; none when valid
	}{
		{"valid, with an extra property", "MessageAttemptOut",
			`{` + attempt + `,"status":0,"statusText":"success","triggerType":0,"herald":true}`, nil},
		{"missing required", "MessageAttemptOut",
			`{` + attempt + `,"status":0,"triggerType":0}`, []string{"$.statusText: required by MessageAttemptOut, missing"}},
		{"wrong type", "MessageAttemptOut",
			`{` + attempt + `,"status":"0","statusText":"success","triggerType":0}`, []string{`$.status: "0", want integer`}},
		{"not an integer", "EndpointStats",
			`{"success":1.5,"pending":0,"sending":0,"fail":0,"canceled":0}`, []string{"$.success: 1.5, want an integer"}},
		{"outside the enum", "MessageAttemptOut",
			`{` + attempt + `,"status":4,"statusText":"canceled","triggerType":0}`, []string{"$.status: 4 is not one of", `$.statusText: "canceled" is not one of`}},
		{"null where not nullable", "EndpointOut",
			`{"id":"ep_1","url":"https://example.com","description":null,"metadata":{},"createdAt":"2026-05-01T12:00:00Z","updatedAt":"2026-05-01T12:00:00Z"}`,
			[]string{"$.description: null, want string"}},
		{"null where nullable", "EndpointOut",
			`{"id":"ep_1","url":"https://example.com","description":"","uid":null,"metadata":{},"createdAt":"2026-05-01T12:00:00Z","updatedAt":"2026-05-01T12:00:00Z"}`, nil},
		{"bad date-time", "RecoverOut",
			`{"id":"qtask_1","status":"running","task":"endpoint.recover","updatedAt":"yesterday"}`, []string{`$.updatedAt: "yesterday" is not an RFC 3339 date-time`}},
		{"map value of the wrong type", "EndpointHeadersOut",
			`{"headers":{"X-A":1},"sensitive":[]}`, []string{"$.headers.X-A: 1, want a string"}},
		{"list item through $ref", "ListResponse_MessageOut_",
			`{"data":[{"id":"msg_1","eventType":"a.b","payload":[],"timestamp":"2026-05-01T12:00:00Z"}],"done":true}`, []string{"$.data[0].payload: [], want an object"}},
		{"pattern and minItems", "MessageOut",
			`{"id":"msg_1","eventType":"a b","channels":[],"payload":{},"timestamp":"2026-05-01T12:00:00Z"}`, []string{`$.eventType: "a b" does not match`, "$.channels: 0 items, want at least 1"}},
		{"not an object", "EmptyResponse", `[]`, []string{"$: [], want an object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ref.validateJSON(map[string]any{"$ref": "#/components/schemas/" + tt.schema}, []byte(tt.body))
			if len(got) != len(tt.want) {
				t.Fatalf("got errors %q, want %d matching %q", got, len(tt.want), tt.want)
			}
			for _, w := range tt.want {
				if !containsPart(got, w) {
					t.Errorf("got errors %q, want one containing %q", got, w)
				}
			}
		})
	}
}

func containsPart(list []string, part string) bool {
	for _, s := range list {
		if strings.Contains(s, part) {
			return true
		}
	}
	return false
}

// The combinators are not in the reference today; they are checked here
// so a newer reference that uses them is not validated loosely.
func TestReferenceValidatorCombinators(t *testing.T) {
	t.Parallel()
	ref := reference(t)
	str := map[string]any{"type": "string"}
	num := map[string]any{"type": "integer"}
	tests := []struct {
		name   string
		schema map[string]any
		body   string
		errs   int
	}{
		{"anyOf matched", map[string]any{"anyOf": []any{str, num}}, `1`, 0},
		{"anyOf unmatched", map[string]any{"anyOf": []any{str, num}}, `true`, 1},
		{"oneOf two", map[string]any{"oneOf": []any{num, map[string]any{"type": "number"}}}, `1`, 1},
		{"allOf one fails", map[string]any{"allOf": []any{num, map[string]any{"type": "integer", "minimum": 2.0}}}, `1`, 1},
	}
	for _, tt := range tests {
		if got := ref.validateJSON(tt.schema, []byte(tt.body)); len(got) != tt.errs {
			t.Errorf("%s: got errors %q, want %d", tt.name, got, tt.errs)
		}
	}
}
