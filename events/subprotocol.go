package events

import (
	"strconv"
	"strings"
)

// Subprotocol is the WebSocket subprotocol of this protocol version (PROTOCOL.md §7).
const Subprotocol = "sockhop.v1"

// helloPrefix begins a subprotocol that carries a new session's hello in the upgrade.
const helloPrefix = Subprotocol + ".hello"

// maxHelloPing bounds the ping a hello subprotocol may name: nine digits, over a day.
const maxHelloPing = 999_999_999

// HelloProtocol returns the WebSocket subprotocol that carries a new session's hello in the
// upgrade request (PROTOCOL.md §3): "sockhop.v1.hello", then ".bin" when the client reads
// binary messages and ".ping<ms>" when it asks for a heartbeat interval (ping > 0). A
// hello with auth or resume has no such form: it goes as a message.
func HelloProtocol(bin bool, ping int64) string {
	p := helloPrefix
	if bin {
		p += ".bin"
	}
	if ping > 0 && ping <= maxHelloPing {
		p += ".ping" + strconv.FormatInt(ping, 10)
	}
	return p
}

// ParseHelloProtocol returns the hello that subprotocol p carries, and false when p is not
// exactly one that [HelloProtocol] makes.
func ParseHelloProtocol(p string) (Message, bool) {
	rest, ok := strings.CutPrefix(p, helloPrefix)
	if !ok {
		return Message{}, false
	}
	m := Message{T: TypeHello, V: Version}
	if r, ok := strings.CutPrefix(rest, ".bin"); ok {
		m.Bin, rest = 1, r
	}
	if r, ok := strings.CutPrefix(rest, ".ping"); ok {
		if len(r) == 0 || len(r) > 9 || r[0] == '0' {
			return Message{}, false
		}
		for i := 0; i < len(r); i++ {
			if r[i] < '0' || r[i] > '9' {
				return Message{}, false
			}
		}
		m.Ping, _ = strconv.ParseInt(r, 10, 64)
		rest = ""
	}
	if rest != "" {
		return Message{}, false
	}
	return m, true
}
