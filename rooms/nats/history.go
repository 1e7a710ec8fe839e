package nats

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sockhop/sockhop/rooms"
)

var (
	_ rooms.History = (*Adapter)(nil)
	_ rooms.Claimer = (*Adapter)(nil)
)

// Headers of a history message (and of a claim).
const (
	hdrEpoch  = "Sockhop-Epoch"  // the room's epoch
	hdrOffset = "Sockhop-Offset" // the entry's offset in its epoch
	hdrTTL    = "Sockhop-Ttl"    // the room's HistoryOptions.TTL in ms, 0 for none
	hdrUntil  = "Sockhop-Until"  // a claim's end, unix ms
)

// maxAppendTries bounds the optimistic-concurrency loop of Append and Claim: a try fails
// only when another node appended to the same room between the read and the write.
const maxAppendTries = 64

// jsStream is one JetStream stream of the adapter, made when first needed and grown (its
// per-subject message limit and maximum age only grow) to cover the bounds asked of it.
type jsStream struct {
	name     string
	subjects string // the stream's subject filter, "<prefix>.h.>"
	perSubj  bool   // MaxMsgsPerSubject tracks Size (histories); else 1 (claims)

	mu     sync.Mutex
	stream jetstream.Stream // nil until made, or after it was found lost
	size   int64            // its MaxMsgsPerSubject, -1 for no limit
	age    time.Duration    // its MaxAge, 0 for no limit
}

// streamName returns a JetStream stream name for the adapter's prefix and kind: the
// prefix with characters other than letters, digits, '-' and '_' replaced by '_', and a
// hash of the whole prefix, so that distinct prefixes never share a stream.
func streamName(prefix, kind string) string {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, prefix)
	if len(clean) > 64 {
		clean = clean[:64]
	}
	sum := sha256.Sum256([]byte(prefix))
	return "sockhop_" + clean + "_" + hex.EncodeToString(sum[:4]) + "_" + kind
}

// historySubject returns the subject of room's history: "<prefix>.h.<token>" with the
// token of [Adapter.subjectOf] (base64url of the name, or of its SHA-256 for long names).
func (a *Adapter) historySubject(room string) string {
	s := a.subjectOf(room)
	return a.opts.SubjectPrefix + ".h." + s[len(a.opts.SubjectPrefix)+3:]
}

// claimSubject returns the subject of a claim of key.
func (a *Adapter) claimSubject(key string) string {
	sum := sha256.Sum256([]byte(key))
	return a.opts.SubjectPrefix + ".c." + base64.RawURLEncoding.EncodeToString(sum[:])
}

// jetStream returns the JetStream context of the connection; errors wrap
// rooms.ErrUnavailable before Start and while the connection is down.
func (a *Adapter) jetStream() (jetstream.JetStream, error) {
	if a.stopped.Load() {
		return nil, rooms.ErrClosed
	}
	nc := a.nc.Load()
	if nc == nil {
		return nil, fmt.Errorf("rooms/nats: history: %w: %w", rooms.ErrUnavailable, errNotStarted)
	}
	if !a.connected.Load() {
		return nil, fmt.Errorf("rooms/nats: history: %w: %w", rooms.ErrUnavailable, errDisconnected)
	}
	a.jsOnce.Do(func() { a.js, a.jsErr = jetstream.New(nc) })
	if a.jsErr != nil {
		return nil, fmt.Errorf("rooms/nats: history: %w", a.jsErr)
	}
	return a.js, nil
}

// ensure returns s's stream, made or grown to keep size messages per subject (≤ 0: no
// limit) for age (≤ 0: no limit). create false only looks it up: a nil stream and nil
// error when it does not exist.
func (a *Adapter) ensure(ctx context.Context, js jetstream.JetStream, s *jsStream, size int64, age time.Duration, create bool) (jetstream.Stream, error) {
	if size <= 0 {
		size = -1
	}
	if age < 0 {
		age = 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream != nil && (!create || covers(s.size, s.age, size, age)) {
		return s.stream, nil
	}
	st, err := js.Stream(ctx, s.name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if !create {
			return nil, nil
		}
		cfg := jetstream.StreamConfig{
			Name:              s.name,
			Subjects:          []string{s.subjects},
			Storage:           jetstream.FileStorage,
			MaxMsgsPerSubject: size,
			MaxAge:            age,
			Discard:           jetstream.DiscardOld,
		}
		if !s.perSubj {
			cfg.MaxMsgsPerSubject = 1
		}
		if a.opts.HistoryMemory {
			cfg.Storage = jetstream.MemoryStorage
		}
		st, err = js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another node was first
			st, err = js.Stream(ctx, s.name)
		}
	}
	if err != nil {
		return nil, jsErr("stream", err)
	}
	cfg := st.CachedInfo().Config
	if create && (s.perSubj && !covers(cfg.MaxMsgsPerSubject, 0, size, 0) || !covers(0, cfg.MaxAge, 0, age)) {
		if s.perSubj && !covers(cfg.MaxMsgsPerSubject, 0, size, 0) {
			cfg.MaxMsgsPerSubject = size
		}
		if !covers(0, cfg.MaxAge, 0, age) {
			cfg.MaxAge = age
		}
		if st, err = js.UpdateStream(ctx, cfg); err != nil {
			return nil, jsErr("stream update", err)
		}
		cfg = st.CachedInfo().Config
	}
	s.stream, s.size, s.age = st, cfg.MaxMsgsPerSubject, cfg.MaxAge
	if !s.perSubj {
		s.size = -1 // claims: one message per subject is all they need
	}
	return st, nil
}

// covers reports whether limits (size, age) keep at least (wantSize, wantAge); ≤ 0 is no
// limit.
func covers(size int64, age time.Duration, wantSize int64, wantAge time.Duration) bool {
	sizeOK := size <= 0 || (wantSize > 0 && wantSize <= size)
	ageOK := age <= 0 || (wantAge > 0 && wantAge <= age)
	return sizeOK && ageOK
}

// lost forgets s's stream after an answer that says it is gone (a server restarted
// without its store): the next call makes it again.
func (s *jsStream) lost() {
	s.mu.Lock()
	s.stream = nil
	s.mu.Unlock()
}

// jsErr wraps err of op: JetStream off on the server wraps rooms.ErrNoHistory, a lost or
// slow connection rooms.ErrUnavailable.
func jsErr(op string, err error) error {
	switch {
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount),
		errors.Is(err, natsgo.ErrNoResponders):
		return fmt.Errorf("rooms/nats: %s: %w: %w", op, rooms.ErrNoHistory, err)
	case errors.Is(err, natsgo.ErrConnectionClosed), errors.Is(err, natsgo.ErrDisconnected),
		errors.Is(err, natsgo.ErrTimeout), errors.Is(err, natsgo.ErrConnectionReconnecting),
		errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, natsgo.ErrNoServers):
		return fmt.Errorf("rooms/nats: %s: %w: %w", op, rooms.ErrUnavailable, err)
	}
	return fmt.Errorf("rooms/nats: %s: %w", op, err)
}

// isGone reports whether err says that the stream does not exist (any more).
func isGone(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, natsgo.ErrNoResponders)
}

// isConflict reports whether a publication was refused because another one reached the
// subject first (Nats-Expected-Last-Subject-Sequence).
func isConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// newEpoch returns a random epoch name.
func newEpoch() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// conflictWait waits before try (1, 2, …) of an append that lost a race: a random time
// up to try ms (at most 50), so that nodes appending to one room spread out.
func conflictWait(ctx context.Context, try int) error {
	var b [1]byte
	_, _ = rand.Read(b[:])
	d := time.Duration(min(try, 50)) * time.Millisecond * time.Duration(b[0]) / 256
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// roomLock serialises one node's appends to one room.
type roomLock struct {
	mu sync.Mutex
	n  int // holders and waiters, guarded by Adapter.appendMu
}

// lockRoom takes the append lock of subject and returns its release.
func (a *Adapter) lockRoom(subject string) func() {
	a.appendMu.Lock()
	l := a.appending[subject]
	if l == nil {
		l = &roomLock{}
		a.appending[subject] = l
	}
	l.n++
	a.appendMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		a.appendMu.Lock()
		if l.n--; l.n == 0 {
			delete(a.appending, subject)
		}
		a.appendMu.Unlock()
	}
}

// roomHead is what a room's latest message says.
type roomHead struct {
	seq    uint64 // its stream sequence, 0 when the room has none
	epoch  string
	offset uint64
	ttl    time.Duration
	at     time.Time
}

// expired reports whether the room had nothing appended for its TTL: its history counts
// as forgotten (the stream's MaxAge removes the messages later).
func (h roomHead) expired(now time.Time) bool {
	return h.seq == 0 || h.epoch == "" || h.ttl > 0 && now.Sub(h.at) > h.ttl
}

// head reads the latest message of subject; a zero roomHead when there is none.
func head(ctx context.Context, st jetstream.Stream, subject string) (roomHead, error) {
	m, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return roomHead{}, nil
	}
	if err != nil {
		return roomHead{}, err
	}
	o, _ := strconv.ParseUint(m.Header.Get(hdrOffset), 10, 64)
	ttl, _ := strconv.ParseInt(m.Header.Get(hdrTTL), 10, 64)
	return roomHead{seq: m.Sequence, epoch: m.Header.Get(hdrEpoch), offset: o,
		ttl: time.Duration(ttl) * time.Millisecond, at: m.Time}, nil
}

// Append adds data to room's history in the adapter's JetStream stream and returns its
// position ([rooms.History]); see the package doc, "Histories". It reads the room's
// latest message and publishes the next offset with Nats-Expected-Last-Subject-Sequence
// set to that message's sequence: a node that lost the race to another reads again. It
// needs [Adapter.Start]. Errors wrap [rooms.ErrNoHistory] when the server has no
// JetStream, [rooms.ErrUnavailable] while the connection is down.
func (a *Adapter) Append(ctx context.Context, room string, data []byte, opts rooms.HistoryOptions) (rooms.Position, error) {
	js, err := a.jetStream()
	if err != nil {
		return rooms.Position{}, err
	}
	subject := a.historySubject(room)
	ttl := max(opts.TTL, 0)
	// Appends of this node to one room take turns: they would only lose the race to each
	// other. Other nodes' appends are told apart by the server.
	unlock := a.lockRoom(subject)
	defer unlock()
	for try := range maxAppendTries {
		if try > 0 {
			if err := conflictWait(ctx, try); err != nil {
				return rooms.Position{}, err
			}
		}
		st, err := a.ensure(ctx, js, &a.hist, int64(opts.Size), ttl, true)
		if err != nil {
			return rooms.Position{}, err
		}
		h, err := head(ctx, st, subject)
		if isGone(err) {
			a.hist.lost()
			continue
		}
		if err != nil {
			return rooms.Position{}, jsErr("append", err)
		}
		pos := rooms.Position{Epoch: h.epoch, Offset: h.offset + 1}
		if h.expired(time.Now()) {
			pos = rooms.Position{Epoch: newEpoch(), Offset: 1}
		}
		m := natsgo.NewMsg(subject)
		m.Data = data
		m.Header.Set(hdrEpoch, pos.Epoch)
		m.Header.Set(hdrOffset, strconv.FormatUint(pos.Offset, 10))
		m.Header.Set(hdrTTL, strconv.FormatInt(ttl.Milliseconds(), 10))
		_, err = js.PublishMsg(ctx, m, jetstream.WithExpectStream(a.hist.name),
			jetstream.WithExpectLastSequencePerSubject(h.seq), jetstream.WithRetryAttempts(0))
		switch {
		case isConflict(err):
			continue
		case isGone(err):
			a.hist.lost()
			continue
		case err != nil:
			return rooms.Position{}, jsErr("append", err)
		}
		a.hist.mu.Lock()
		limit := a.hist.size
		a.hist.mu.Unlock()
		if opts.Size > 0 && (limit <= 0 || int64(opts.Size) < limit) && pos.Offset > uint64(opts.Size) {
			// The stream keeps more per room than this room may: trim it exactly.
			if err := st.Purge(ctx, jetstream.WithPurgeSubject(subject), jetstream.WithPurgeKeep(uint64(opts.Size))); err != nil {
				a.log.Debug("rooms/nats: history trim failed", "err", err)
			}
		}
		return pos, nil
	}
	return rooms.Position{}, fmt.Errorf("rooms/nats: append: %w: %d tries lost to concurrent appends", rooms.ErrUnavailable, maxAppendTries)
}

// Since returns room's entries after since ([rooms.History]): it reads the room's latest
// message, then the room's messages through an ordered consumer filtered on its subject
// (at most the stream's per-room limit). Entries older than the room's TTL count as
// trimmed.
func (a *Adapter) Since(ctx context.Context, room string, since rooms.Position, limit int) ([]rooms.Entry, rooms.Position, bool, error) {
	js, err := a.jetStream()
	if err != nil {
		return nil, rooms.Position{}, false, err
	}
	none := func() ([]rooms.Entry, rooms.Position, bool, error) {
		// Nothing kept: complete only for a client that saw nothing either.
		return nil, rooms.Position{}, since == rooms.Position{}, nil
	}
	st, err := a.ensure(ctx, js, &a.hist, 0, 0, false)
	if err != nil {
		return nil, rooms.Position{}, false, err
	}
	if st == nil {
		return none()
	}
	subject := a.historySubject(room)
	h, err := head(ctx, st, subject)
	if isGone(err) {
		a.hist.lost()
		return none()
	}
	if err != nil {
		return nil, rooms.Position{}, false, jsErr("since", err)
	}
	now := time.Now()
	if h.expired(now) {
		return none()
	}
	latest := rooms.Position{Epoch: h.epoch, Offset: h.offset}
	if since.Epoch != h.epoch && since != (rooms.Position{}) || since.Offset > h.offset {
		return nil, latest, false, nil
	}
	if since.Offset == h.offset {
		return nil, latest, true, nil
	}
	// The server drops the consumer a few seconds after its last use (not nats.go's
	// default 5 minutes: a wave of catch-ups would leave as many consumers behind).
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject},
		InactiveThreshold: 5 * time.Second})
	if err != nil {
		return nil, rooms.Position{}, false, jsErr("since", err)
	}
	var out []rooms.Entry
	first := uint64(0) // the oldest offset kept in the latest epoch
	empties := 0
	// Until the room's latest message (its head); the bound is for a stream that changes
	// under us.
	for range 1 << 20 {
		batch, err := cons.FetchNoWait(256)
		if err != nil {
			return nil, rooms.Position{}, false, jsErr("since", err)
		}
		n := 0
		done := false
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			if md.Sequence.Stream >= h.seq {
				done = true
			}
			if md.Sequence.Stream > h.seq {
				continue
			}
			hd := m.Headers()
			o, _ := strconv.ParseUint(hd.Get(hdrOffset), 10, 64)
			if hd.Get(hdrEpoch) != h.epoch || h.ttl > 0 && now.Sub(md.Timestamp) > h.ttl {
				continue // an older epoch, or aged out
			}
			if first == 0 {
				first = o
			}
			if o > since.Offset {
				out = append(out, rooms.Entry{Offset: o, Data: append([]byte(nil), m.Data()...)})
			}
		}
		if err := batch.Error(); err != nil {
			return nil, rooms.Position{}, false, jsErr("since", err)
		}
		if done {
			break
		}
		if n == 0 {
			// The room's latest message is in the stream, so the consumer has more to
			// give; an empty answer is a consumer not ready yet. Bounded.
			if empties++; empties > 20 {
				return nil, rooms.Position{}, false, fmt.Errorf("rooms/nats: since: %w: the stream gave no messages up to the room's latest", rooms.ErrUnavailable)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	complete := first != 0 && since.Offset+1 >= first && len(out) > 0 && out[len(out)-1].Offset == h.offset
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
		complete = false
	}
	return out, latest, complete, nil
}

// Claim reports whether key was not claimed within the last ttl ([rooms.Claimer]): a
// message on the claim's subject of a second stream (one message per subject) that says
// until when it holds, written with Nats-Expected-Last-Subject-Sequence so that of
// concurrent claims one wins. It needs [Adapter.Start]; errors wrap [rooms.ErrNoHistory]
// when the server has no JetStream.
func (a *Adapter) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	js, err := a.jetStream()
	if err != nil {
		return false, err
	}
	ttl = max(ttl, time.Millisecond)
	subject := a.claimSubject(key)
	for range maxAppendTries {
		st, err := a.ensure(ctx, js, &a.claims, 1, ttl, true)
		if err != nil {
			return false, err
		}
		var seq uint64
		m, err := st.GetLastMsgForSubject(ctx, subject)
		switch {
		case isGone(err):
			a.claims.lost()
			continue
		case errors.Is(err, jetstream.ErrMsgNotFound):
		case err != nil:
			return false, jsErr("claim", err)
		default:
			until, _ := strconv.ParseInt(m.Header.Get(hdrUntil), 10, 64)
			if time.Now().UnixMilli() < until {
				return false, nil
			}
			seq = m.Sequence
		}
		c := natsgo.NewMsg(subject)
		c.Header.Set(hdrUntil, strconv.FormatInt(time.Now().Add(ttl).UnixMilli(), 10))
		_, err = js.PublishMsg(ctx, c, jetstream.WithExpectStream(a.claims.name),
			jetstream.WithExpectLastSequencePerSubject(seq), jetstream.WithRetryAttempts(0))
		switch {
		case isConflict(err):
			return false, nil // another claim came first
		case isGone(err):
			a.claims.lost()
			continue
		case err != nil:
			return false, jsErr("claim", err)
		}
		return true, nil
	}
	return false, fmt.Errorf("rooms/nats: claim: %w: the stream keeps disappearing", rooms.ErrUnavailable)
}
