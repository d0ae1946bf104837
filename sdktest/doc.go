// Package sdktest checks Herald against the official Svix Go SDK: the SDK
// is pointed at a real Herald API (SQLite store, delivery engine) and used
// as a Svix customer would use it. It is a separate module so that the SDK
// never becomes a dependency of Herald itself; run it with
// `cd sdktest && go test ./...`.
package sdktest
