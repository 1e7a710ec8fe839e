package sockhop

import (
	"encoding/json"
	"net/http"
	"time"
)

// Identity is who a session belongs to, as Options.Authenticate decided.
type Identity struct {
	// UserID groups the sessions of one user, for DisconnectUser; "" is anonymous.
	UserID string
	// Data is whatever the app wants to keep with the identity (claims, roles).
	Data any
	// Expires, when not zero, is when the credentials behind the identity expire (a
	// token's exp). At it the session closes with CloseAuthExpired (4003): the clients
	// fetch fresh credentials (client.Options.AuthFunc, the JS client's auth function)
	// and connect again, as a new session. An identity that has expired already refuses
	// the connection (CloseUnauthorized, "credentials expired"). A resume runs
	// Authenticate again and replaces the session's identity, and so its expiry.
	Expires time.Time
}

// Identity returns the identity Options.Authenticate gave the session (the zero Identity
// without an Authenticate hook).
func (s *Session) Identity() Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.identity
}

// authenticate runs Options.Authenticate for a new or resuming session. A refusal is a
// terminal close (4501) carrying the client-visible error.
func (srv *Server) authenticate(r *http.Request, auth json.RawMessage) (Identity, error) {
	f := srv.opts.Authenticate
	if f == nil {
		return Identity{}, nil
	}
	id, panicked, err := srv.runAuthenticate(f, r, auth)
	if panicked {
		return Identity{}, err
	}
	if err == nil && !id.Expires.IsZero() && !time.Now().Before(id.Expires) {
		err = &Error{Code: "credentials_expired", Message: "credentials expired"}
	}
	if err == nil {
		return id, nil
	}
	e, visible := clientError(err)
	if !visible {
		srv.log.Error("Authenticate failed", "err", err)
		e = &Error{Code: "unauthorized", Message: "unauthorized"}
	}
	return Identity{}, &CloseError{Code: CloseUnauthorized, Reason: e.Message, Err: e}
}

// runAuthenticate calls f, turning a panic into a 1011 close of this connection alone.
func (srv *Server) runAuthenticate(f func(*http.Request, json.RawMessage) (Identity, error), r *http.Request, auth json.RawMessage) (id Identity, panicked bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			id, panicked, err = Identity{}, true, srv.hookPanic("Authenticate", p)
		}
	}()
	id, err = f(r, auth)
	return id, false, err
}

// setIdentity gives s its identity (at open, and again at every resume) and arms the
// close at its expiry, replacing the one of the identity before.
func (s *Session) setIdentity(id Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identity = id
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
	if id.Expires.IsZero() {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(time.Until(id.Expires), func() {
		s.mu.Lock() // held by setIdentity until t is assigned
		current := s.expiry == t
		s.mu.Unlock()
		if !current { // replaced by a resume's identity as it fired
			return
		}
		s.srv.log.Info("credentials expired", "session", s.ID())
		s.core.Close(&CloseError{Code: CloseAuthExpired, Reason: "credentials expired"})
	})
	s.expiry = t
}

// stopExpiry disarms the expiry close of an ended session.
func (s *Session) stopExpiry() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
}
