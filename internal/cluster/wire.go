package cluster

// Room is the adapter room every node subscribes to and publishes its control messages
// in. Its name begins with a NUL byte, which sockhop refuses in app rooms.
const Room = "\x00sockhop"

// The types of message.
const (
	tHeartbeat = "hb"     // I am alive, at Addr, my forwarding secret is K, my last op is Q
	tOps       = "ops"    // my ops Q, Q+1, ...
	tSync      = "sync"   // To (or, "", everyone): send a snapshot
	tSnap      = "snap"   // my sessions as of op Q, part P of a snapshot (Last ends it)
	tKick      = "kick"   // close the sessions of user U; answer with tKicked to me, ID
	tKicked    = "kicked" // To: I closed C sessions for your kick ID
	tBye       = "bye"    // I am stopping: forget me and my sessions
)

// msg is one control message, JSON in a Publication's Data. Only the fields of its type
// are set.
type msg struct {
	T    string        `json:"t"`
	N    string        `json:"n"` // sender's node id
	To   string        `json:"to,omitempty"`
	A    string        `json:"a,omitempty"` // heartbeat: advertised address
	K    string        `json:"k,omitempty"` // heartbeat: forwarding secret
	Q    uint64        `json:"q,omitempty"`
	O    []Op          `json:"o,omitempty"`
	P    int           `json:"p,omitempty"`
	Last bool          `json:"last,omitempty"`
	S    []SnapSession `json:"s,omitempty"`
	ID   uint64        `json:"id,omitempty"`
	U    string        `json:"u,omitempty"`
	C    int           `json:"c,omitempty"`
}

// SnapSession is one session in a snapshot.
type SnapSession struct {
	SID   string   `json:"s"`
	User  string   `json:"u,omitempty"`
	Rooms []string `json:"r,omitempty"`
}

// Limits of one message: a snapshot is cut into parts of snapPart sessions and a batch of
// ops holds at most opsPerMsg, so that no message comes near a broker's payload limit
// (NATS: 1 MiB by default) for ids and room names of ordinary length.
const (
	snapPart  = 500
	opsPerMsg = 1000
)
