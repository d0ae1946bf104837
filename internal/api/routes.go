package api

// createMessageRoute publishes; a repeated publish is answered from the
// store, not its saved answer (see replayBody).
const createMessageRoute = "POST /api/v1/app/{app_id}/msg"

// routes registers every route. This table is the whole API surface.
func (s *Server) routes() {
	const app = "/api/v1/app/{app_id}"
	const ep = app + "/endpoint/{endpoint_id}"
	const msg = app + "/msg/{msg_id}"

	// Health and the API description need no token.
	s.handle("GET /api/v1/health", public, s.health)
	s.handle("GET /api/v1/health/ping", public, s.ping)
	s.handle("GET /api/v1/openapi.json", public, s.openapi)

	// Authentication. app-portal-access is not idempotent on purpose: its
	// answer is a new token, which a saved answer would keep in plaintext
	// in the idempotency table for a day (only a token's hash is stored).
	// A retry minting a second token is harmless.
	s.handle("POST /api/v1/auth/app-portal-access/{app_id}", adminApp|appOrMissing, s.appPortalAccess)
	s.handle("POST /api/v1/auth/logout", anyToken, s.logout)

	// Applications.
	s.handle("GET /api/v1/app", admin, s.listApps)
	s.handle("POST /api/v1/app", admin|idempotent, s.createApp)
	s.handle("GET "+app, appScoped, s.getApp)
	s.handle("PUT "+app, admin, s.updateApp)
	s.handle("PATCH "+app, adminApp, s.patchApp)
	s.handle("DELETE "+app, adminApp, s.deleteApp)

	// Event types are global: any token may read them, only admins change them.
	s.handle("GET /api/v1/event-type", anyToken, s.listEventTypes)
	s.handle("POST /api/v1/event-type", admin|idempotent, s.createEventType)
	s.handle("GET /api/v1/event-type/{event_type_name}", anyToken, s.getEventType)
	s.handle("PUT /api/v1/event-type/{event_type_name}", admin, s.updateEventType)
	s.handle("PATCH /api/v1/event-type/{event_type_name}", admin, s.patchEventType)
	s.handle("DELETE /api/v1/event-type/{event_type_name}", admin, s.deleteEventType)

	// Endpoints.
	s.handle("GET "+app+"/endpoint", appScoped, s.listEndpoints)
	s.handle("POST "+app+"/endpoint", appScoped|idempotent, s.createEndpoint)
	s.handle("GET "+ep, appScoped, s.getEndpoint)
	s.handle("PUT "+ep, appScoped, s.updateEndpoint)
	s.handle("PATCH "+ep, appScoped, s.patchEndpoint)
	s.handle("DELETE "+ep, appScoped, s.deleteEndpoint)
	s.handle("GET "+ep+"/headers", appScoped, s.getEndpointHeaders)
	s.handle("PUT "+ep+"/headers", appScoped, s.updateEndpointHeaders)
	s.handle("PATCH "+ep+"/headers", appScoped, s.patchEndpointHeaders)
	s.handle("GET "+ep+"/secret", appScoped, s.getEndpointSecret)
	s.handle("POST "+ep+"/secret/rotate", appScoped|idempotent, s.rotateEndpointSecret)
	s.handle("GET "+ep+"/stats", appScoped, s.endpointStats)
	s.handle("POST "+ep+"/send-example", appScoped|idempotent, s.sendExample)
	s.handle("POST "+ep+"/recover", appScoped|idempotent, s.recoverEndpoint)
	s.handle("GET "+ep+"/msg", appScoped, s.listAttemptedMessages)
	s.handle("GET "+ep+"/circuit", appScoped, s.getEndpointCircuit)
	s.handle("POST "+ep+"/circuit/reset", appScoped, s.resetEndpointCircuit)
	s.handle("GET "+ep+"/ordering", appScoped, s.getEndpointOrdering)
	s.handle("PUT "+ep+"/ordering", appScoped, s.updateEndpointOrdering)

	// Messages and attempts.
	s.handle("GET "+app+"/msg", appScoped, s.listMessages)
	s.handle(createMessageRoute, appOrMissing|idempotent, s.createMessage)
	s.handle("GET "+msg, appScoped, s.getMessage)
	s.handle("DELETE "+msg+"/content", appScoped, s.expungeMessage)
	s.handle("GET "+msg+"/endpoint", appScoped, s.listAttemptedDestinations)
	s.handle("POST "+msg+"/endpoint/{endpoint_id}/resend", appScoped|idempotent, s.resend)
	s.handle("GET "+msg+"/attempt/{attempt_id}", appScoped, s.getAttempt)
	s.handle("DELETE "+msg+"/attempt/{attempt_id}/content", appScoped, s.expungeAttempt)
	s.handle("GET "+app+"/attempt/endpoint/{endpoint_id}", appScoped, s.listAttemptsByEndpoint)
	s.handle("GET "+app+"/attempt/msg/{msg_id}", appScoped, s.listAttemptsByMsg)

	// Sources: Herald's receiving side, for the admin token only.
	const src = "/api/v1/source/{source_id}"
	s.handle("GET /api/v1/source", admin, s.listSources)
	s.handle("POST /api/v1/source", admin|idempotent, s.createSource)
	s.handle("GET "+src, admin, s.getSource)
	s.handle("PUT "+src, admin, s.updateSource)
	s.handle("PATCH "+src, admin, s.patchSource)
	s.handle("DELETE "+src, admin, s.deleteSource)
	s.handle("GET "+src+"/event", admin, s.listInboundEvents)
	s.handle("GET "+src+"/event/{event_id}", admin, s.getInboundEvent)
	s.handle("POST "+src+"/event/{event_id}/replay", admin|idempotent, s.replayInboundEvent)

	// Pull delivery: the Svix message-poller API over polling endpoints.
	const sink = app + "/poller/{sink_id}"
	s.handle("POST "+app+"/poller", appScoped|idempotent, s.createPoller)
	s.handle("GET "+sink, appScoped, s.poll)
	s.handle("GET "+sink+"/consumer/{consumer_id}", appScoped, s.consumerPoll)
	s.handle("POST "+sink+"/consumer/{consumer_id}/seek", appScoped|idempotent, s.consumerSeek)

	// herald listen: a WebSocket that makes the caller an endpoint.
	s.handle("GET "+app+"/listen", appScoped, s.listen)
}
