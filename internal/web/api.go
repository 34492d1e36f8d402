package web

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/fielderr"
)

// apiError is the body of every API error.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
	// Fields lists every bad field of a request that has several (the
	// first is Field), for a form to mark them all.
	Fields []api.FieldProblem `json:"fields,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg, field string) {
	writeJSON(w, status, apiError{Error: msg, Field: field})
}

// jsonOnly refuses a body that is not JSON.
const jsonOnly = "The request body must be JSON (Content-Type: application/json)."

// decodeJSON reads a JSON body into v, refusing other content types and
// unknown fields. It writes the error response itself and reports false.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, jsonOnly, "")
		return false
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "The request body is too large.", "")
			return false
		}
		fe := fielderr.FromJSON(err)
		writeError(w, http.StatusBadRequest, fe.Message, fe.Field)
		return false
	}
	return true
}

type meResponse struct {
	Username string `json:"username"`
	Role     string `json:"role"`
}

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) {
	id := me(r)
	writeJSONBytes(w, http.StatusOK, meResponse{Username: id.Name, Role: string(id.Role)}.appendJSON)
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type loginResponse struct {
	Username           string `json:"username"`
	Role               string `json:"role"`
	MustChangePassword bool   `json:"must_change_password"`
}

// apiLogin is the JSON form of POST /login: it sets the session cookie.
func (s *Server) apiLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	req.Username = strings.TrimSpace(req.Username)
	if req.Username == "" {
		writeError(w, http.StatusBadRequest, "Username is required.", "username")
		return
	}
	if len(req.Username) > auth.MaxUsernameLen {
		writeError(w, http.StatusBadRequest, usernameTooLong, "username")
		return
	}
	if req.Password == "" {
		writeError(w, http.StatusBadRequest, "Password is required.", "password")
		return
	}
	u, retry, err := s.checkLogin(r, req.Username, req.Password)
	switch {
	case errors.Is(err, errThrottled):
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(retry)))
		writeError(w, http.StatusTooManyRequests, retryMessage(retry), "")
		return
	case errors.Is(err, errBusy):
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(retry)))
		writeError(w, http.StatusServiceUnavailable, busyMessage, "")
		return
	case errors.Is(err, errBadLogin):
		writeError(w, http.StatusUnauthorized, badLoginMessage, "")
		return
	case err != nil && r.Context().Err() != nil:
		return // the client left while waiting: nobody to answer
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	if err := s.startSession(r, u); err != nil {
		s.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, loginResponse{Username: u.Name, Role: string(u.Role), MustChangePassword: u.MustChangePassword})
}

func (s *Server) apiSystem(w http.ResponseWriter, r *http.Request) {
	sys, err := s.sys.Snapshot(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	writeJSONBytes(w, http.StatusOK, sys.appendJSON)
}

type apiUser struct {
	ID                 int64     `json:"id"`
	Name               string    `json:"name"`
	Role               string    `json:"role"`
	MustChangePassword bool      `json:"must_change_password"`
	CreatedAt          time.Time `json:"created_at"`
}

func (s *Server) apiUsers(w http.ResponseWriter, r *http.Request) {
	users, err := s.db.ListUsers(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	out := make([]apiUser, 0, len(users))
	for _, u := range users {
		out = append(out, apiUser{ID: u.ID, Name: u.Name, Role: string(u.Role), MustChangePassword: u.MustChangePassword, CreatedAt: u.CreatedAt})
	}
	writeJSON(w, http.StatusOK, out)
}
