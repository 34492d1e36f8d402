package api

// SharedReads are the routes whose answer depends on nothing of the
// caller but its role and which record nothing: a caller may be given the
// answer another caller of the same role got a moment before. The console
// keeps such an answer for up to a second (client.WithSharedReads), so
// that many readers of a page cost the agent one read a second. A route
// whose answer depends on the user (the runs), records an audit entry, or
// follows a change as it happens (a change's state) is not one.
var SharedReads = []string{
	"GET /v1/interfaces",
	"GET /v1/interfaces/{name}",
	"GET /v1/traffic",
	"GET /v1/dhcp/leases",
	"GET /v1/ap",
	"GET /v1/ap/clients",
	"GET /v1/ap/deny",
	"GET /v1/ap/dhcp",
}
