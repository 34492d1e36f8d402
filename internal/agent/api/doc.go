// Package api is the agent's API as both sides see it: the wire types
// (the JSON of every request and answer), the route table with the least
// role of each route, the actor headers and the one error type. It imports
// nothing privileged, so that the console (internal/web) and the typed
// client (internal/agent/client) depend on it and never on the agent.
//
// An endpoint is declared once, in Routes: the agent serves each route
// with its handler, and the console forwards the routes marked Web
// through its allow-listed proxy (/api/v1/... → /v1/...).
package api
