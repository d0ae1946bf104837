package herald

// EndpointEvents hears of endpoint changes once they are stored, from the
// API, the dashboard and the consumer portal alike (operational webhooks).
// Its methods must not block.
type EndpointEvents interface {
	EndpointCreated(app *Application, ep *Endpoint)
	// EndpointUpdated reports an update; disabled is set when the update
	// disabled an enabled endpoint.
	EndpointUpdated(app *Application, ep *Endpoint, disabled bool)
	EndpointDeleted(app *Application, ep *Endpoint)
}

// NoEndpointEvents is the EndpointEvents of a server configured without
// any: it ignores every change.
type NoEndpointEvents struct{}

func (NoEndpointEvents) EndpointCreated(*Application, *Endpoint)       {}
func (NoEndpointEvents) EndpointUpdated(*Application, *Endpoint, bool) {}
func (NoEndpointEvents) EndpointDeleted(*Application, *Endpoint)       {}
