package sockhop

import (
	"context"
	"crypto/subtle"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/transport"
)

// Resume, the server's part: a hello that names a session with its token hands the new
// transport to that session (session.Attach), whose welcome says resumed:true. The
// session's part (what is replayed, the grace period) is in session/resume.go, the Go
// client's in client/resume.go.

// resume hands conn to the session the hello names, if the token is right and the
// identity Authenticate gave the hello has the session's UserID, and returns
// once the session is done with conn, or with detach at once (the session then calls
// srv.wg.Done when it is done with conn). It reports false, leaving conn alone, when the
// session cannot resume: the caller then opens a new one (and the client sees
// resumed:false).
func (srv *Server) resume(conn transport.Conn, hello *events.Message, id Identity, lines [][]byte, start time.Time, detach bool) bool {
	res := hello.Resume
	s := srv.Session(res.SID)
	if s == nil || !s.checkToken(res.Token) || s.Identity().UserID != id.UserID {
		srv.log.Info("resume refused", "session", res.SID, "transport", conn.Name(), "known", s != nil)
		if srv.obs != nil {
			srv.obs.ResumeFailed(conn.Name())
		}
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), srv.opts.HandshakeTimeout)
	defer cancel()
	taken := make(chan struct{})
	done := func() { close(taken) }
	if detach {
		done = srv.wg.Done
	}
	err := s.core.AttachFunc(ctx, conn, lines, res.Seq, func(received uint64) []byte {
		// On the session's owner goroutine, before the new transport carries anything:
		// the credentials just checked, and their expiry, are the session's from the
		// welcome on (if the resume fails, the session ends anyway).
		s.setIdentity(id)
		// The hello's heartbeat interval (none: the server's own) holds from this
		// transport on.
		s.core.SetPingInterval(time.Duration(hello.Ping) * time.Millisecond)
		return srv.welcome(s, true, received)
	}, done)
	if err != nil {
		srv.log.Info("resume failed", "session", res.SID, "transport", conn.Name(), "err", err)
		if srv.obs != nil {
			srv.obs.ResumeFailed(conn.Name())
		}
		return false
	}
	from := s.observe(conn.Name())
	if srv.obs != nil {
		srv.obs.SessionResumed(from, conn.Name(), time.Since(start))
	}
	srv.log.Info("session resumed", "session", s.ID(), "transport", conn.Name(), "from", from, "remote", s.remote)
	srv.mu.Lock()
	delete(srv.handshaking, conn)
	srv.mu.Unlock()
	if !detach {
		<-taken
	}
	return true
}

// welcome returns the welcome that opens (or, resumed, resumes) s on a transport, with a
// new resume token; received is the count of counted messages the session has received.
func (srv *Server) welcome(s *Session, resumed bool, received uint64) []byte {
	return events.AppendWelcome(nil, events.Welcome{
		SID:     s.ID(),
		Token:   s.rotateToken(),
		Resumed: resumed,
		R:       received,
		Ping:    s.core.PingInterval().Milliseconds(),
		Pong:    srv.scfg.PongTimeout.Milliseconds(),
		Max:     int(srv.opts.MaxMessageSize),
		Node:    srv.welcomeNode(),
		Bin:     true,
	})
}

// welcomeNode is the node a welcome names: this one, when it is one of several.
func (srv *Server) welcomeNode() string {
	if srv.clustered() {
		return srv.node.ID()
	}
	return ""
}

// rotateToken makes a new resume token and returns it. The previous one stays valid
// until the client presents the new one, because the welcome that carried the new one
// may have been lost with its transport; older ones are useless.
func (s *Session) rotateToken() string {
	t := randomID(24)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" {
		s.prevToken = s.token
	}
	s.token = t
	return t
}

// checkToken reports whether t may resume the session, and prepares the next rotation:
// when the client presents the previous token, it never got the current one, which is
// then simply replaced; when it presents the current one, the previous is retired.
func (s *Session) checkToken(t string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	eq := func(a string) bool { return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(t)) == 1 }
	switch {
	case eq(s.token):
		s.prevToken = ""
		return true
	case eq(s.prevToken):
		s.token = "" // rotateToken keeps prevToken valid until the client shows the new one
		return true
	}
	return false
}
