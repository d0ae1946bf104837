// Package opevent sends operational webhooks: events about Herald itself
// (endpoint.created, updated, deleted and disabled, and
// message.attempt.failing, exhausted and recovered) to the endpoints of a
// reserved application, with the payloads Svix sends.
//
// Events are published as ordinary messages of that application through
// the delivery engine, so they are stored, signed, retried, logged as
// attempts and shown in the dashboard like any other. Events about the
// reserved application itself are never emitted, so a failing operator
// endpoint cannot feed on its own failures.
//
// The sources (the API's endpoint handlers and the engine's recorder) call
// the Emitter after their change is committed; it queues the event without
// blocking and publishes it from one goroutine. See Emitter for what
// happens when the queue is full or the store is down.
package opevent
